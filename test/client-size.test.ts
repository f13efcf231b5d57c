// Size budget of the client: client/index.ts bundled, minified and gzipped must stay under 6 KB.

import { gzipSync } from 'node:zlib';
import t from 'tap';

const BUDGET_BYTES = 6 * 1024;

type Esbuild = {
  build(options: object): Promise<{ outputFiles: Array<{ contents: Uint8Array }> }>;
};

const esbuild = (await import('esbuild' as string).catch(() => undefined)) as Esbuild | undefined;

t.test(
  'minified + gzipped bundle is under 6 KB',
  { skip: !esbuild && 'esbuild is not installed' },
  async (t) => {
    const out = await esbuild!.build({
      entryPoints: [new URL('../client/index.ts', import.meta.url).pathname],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'neutral',
      write: false,
    });
    const code = out.outputFiles[0]!.contents;
    t.equal(out.outputFiles.length, 1);
    const gzipped = gzipSync(code, { level: 9 }).length;
    t.comment(`client bundle: ${code.length} B minified, ${gzipped} B gzipped (budget ${BUDGET_BYTES} B)`);
    t.ok(gzipped < BUDGET_BYTES, `${gzipped} B gzipped < ${BUDGET_BYTES} B`);
    t.notMatch(new TextDecoder().decode(code), /\bimport\b[^(]/, 'no imports: zero runtime dependencies');
  },
);
