// The clients people run, over the broker's TLS: the official @upstash/redis client over https:// and Sluice's own
// client over https:// and wss://, in a child process that trusts the test CA only through NODE_EXTRA_CA_CERTS.
import { spawn } from 'node:child_process';
import t from 'tap';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';
import { makeTlsFixture } from './helpers/tls.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const tls = makeTlsFixture();
t.teardown(() => tls.remove());
const broker = await startTestBroker(redis.url, {
  flags: { 'tls-cert-file': tls.liveCert, 'tls-key-file': tls.liveKey },
});
t.teardown(() => broker.close());

/** Runs test/helpers/tls-clients-child.ts (with tap's TypeScript loader) and parses the line it prints. */
async function runClients(env: Record<string, string>): Promise<Record<string, unknown>> {
  const script = new URL('./helpers/tls-clients-child.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [...process.execArgv, script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BROKER_URL: broker.url, BROKER_TOKEN: TOKEN, ...env },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the client process exited with ${code}: ${out}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
}

t.test('@upstash/redis over https:// and the thin client over https:// and wss://', async (t) => {
  const results = await runClients({ NODE_EXTRA_CA_CERTS: tls.ca });
  t.same(results, {
    sdkSet: 'OK',
    sdkGet: { n: 1 },
    sdkPipeline: [1, 2],
    clientHttp: 1,
    clientWsSet: 'OK',
    clientWsGet: 'over wss',
  });
});

t.test('without the CA trusted, the same clients refuse the certificate', async (t) => {
  const results = await runClients({ NODE_EXTRA_CA_CERTS: '' });
  t.match(results['error'], /fetch failed|certificate|UNABLE_TO_VERIFY/i);
  t.notOk('sdkSet' in results, 'nothing was sent');
});
