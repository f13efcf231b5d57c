// README's quick start, the way a newcomer runs it: a fresh clone, `npm ci`, `npm start` with no configuration on a
// machine where the default Redis address is free (a new network namespace), then the README's curl examples.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

const root = new URL('..', import.meta.url).pathname;
// A clone, `npm ci` and a build: longer than .taprc's 120 s per file on a loaded machine. The subtest's own
// timeout (below) must fit inside the file's.
t.setTimeout(300_000);
const canIsolate = spawnSync('unshare', ['-n', 'true']).status === 0;
const hasCurl = spawnSync('curl', ['--version']).status === 0;

/** The README's quick-start curl commands and the output documented under each. */
function readmeExamples(): { command: string; expected: string }[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const block = /```sh\n(curl[\s\S]*?)```/.exec(section)?.[1] ?? '';
  const examples: { command: string; expected: string }[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('curl ')) examples.push({ command: line, expected: '' });
    else if (line.startsWith('# ') && examples.length > 0)
      examples[examples.length - 1]!.expected = line.slice(2);
  }
  return examples;
}

t.test(
  'quick start from a fresh clone',
  {
    skip: !canIsolate
      ? 'needs `unshare -n` (root) to free the default Redis address'
      : !hasCurl
        ? 'needs curl'
        : false,
    timeout: 240_000,
  },
  async (t) => {
    const examples = readmeExamples();
    t.ok(examples.length >= 2, 'README has curl examples with documented output');
    const dir = mkdtempSync(join(tmpdir(), 'sluice-quickstart-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('git', ['clone', '--quiet', root, dir]);
    execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--silent'], {
      cwd: dir,
      stdio: 'ignore',
    });
    // What `npm start` runs after its build (node, its flags, dist/broker/main.js): the process to stop.
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const entry = pkg.scripts['start']!.split('&&').at(-1)!.trim();

    // Inside the namespace: start, wait for the start line, run the examples with the printed token, then SIGTERM.
    const curls = examples.map((e) => `${e.command.replace('<token>', '$TOKEN')} ; echo`).join('\n');
    const script = `
    set -u
    ip link set lo up
    env -u SLUICE_REDIS_URL npm start > out.txt 2> err.txt &
    pid=$!
    for i in $(seq 1 1200); do grep -q '^sluice ready' out.txt 2>/dev/null && break; sleep 0.1; done
    line=$(grep '^sluice ready' out.txt)
    echo "LINE $line"
    TOKEN=$(sed -nE 's/.* token: ([^ ]+)$/\\1/p' <<<"$line")
    ${curls}
    pkill -TERM -f '^${entry}'
    wait $pid
    echo "EXIT $?"
    port=$(grep -oE 'redis=redis://127.0.0.1:[0-9]+' <<<"$line" | grep -oE '[0-9]+$')
    sleep 0.5
    pgrep -f "^redis-server 127.0.0.1:$port" >/dev/null && echo "REDIS LEFT RUNNING" || echo "REDIS STOPPED"
  `;
    const result = spawnSync('unshare', ['-n', 'bash', '-c', script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const lines = result.stdout.split('\n');
    const startLine = lines.find((l) => l.startsWith('LINE '))?.slice(5) ?? '';
    t.match(
      startLine,
      /^sluice ready http=http:\/\/127\.0\.0\.1:8080 admin=http:\/\/127\.0\.0\.1:9190 redis=redis:\/\/127\.0\.0\.1:\d+ \(private redis-server\) workers=1 token: \S+$/,
    );
    const outputs = lines.filter((l) => l.startsWith('{'));
    t.same(
      outputs,
      examples.map((e) => e.expected),
      'each curl prints what README documents',
    );
    t.ok(lines.includes('EXIT 0'), 'SIGTERM drains and exits 0');
    t.ok(lines.includes('REDIS STOPPED'), 'the private redis-server stops with the broker');
    if (!t.passing()) t.comment(result.stdout, result.stderr, readFileSync(join(dir, 'err.txt'), 'utf8'));
  },
);
