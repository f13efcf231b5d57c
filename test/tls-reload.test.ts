// Certificates replaced without a restart: under load with no failed request, new connections get the new
// certificate while an open one keeps working; a bad new certificate keeps the old one; with workers, SIGHUP reaches
// every worker and a session resumes on any of them.
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import t from 'tap';
import { spawnBrokerProcess, startTestBroker, TOKEN } from './helpers/broker.js';
import { scrape, value } from './helpers/metrics.js';
import { parseRawResponse } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { sleep, waitFor } from './helpers/time.js';
import { commandBytes, exchange, makeTlsFixture, sessionOf, tlsConnect } from './helpers/tls.js';

t.setTimeout(180_000);

const redis = await startRedis();
t.teardown(() => redis.stop());
const tls = makeTlsFixture();
t.teardown(() => tls.remove());
const ca = tls.caPem;

/** The subject CN and serial of the certificate a new connection gets. */
async function certificateOfNewConnection(url: string): Promise<{ cn: string; serial: string }> {
  const socket = await tlsConnect(url, { ca });
  const peer = socket.getPeerCertificate();
  socket.destroy();
  return { cn: String(peer.subject.CN), serial: peer.serialNumber };
}

/** One INCR over HTTPS; resolves with an error text instead of rejecting. */
function incr(url: string, agent: Agent | false): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(
      `${url}/incr/tls:reload`,
      { method: 'POST', ca, agent, headers: { Authorization: `Bearer ${TOKEN}` } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(res.statusCode === 200 ? undefined : `${res.statusCode} ${text}`));
        res.on('error', (error) => resolve(error.message));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

t.test(
  'reload under load: no request fails, new connections get the new certificate, open ones go on',
  async (t) => {
    const logLines: string[] = [];
    const broker = await startTestBroker(redis.url, {
      flags: { 'tls-cert-file': tls.liveCert, 'tls-key-file': tls.liveKey },
      logLines,
    });
    t.teardown(() => broker.close());
    const first = await certificateOfNewConnection(broker.url);
    t.equal(first.cn, 'localhost');
    const sessionBefore = await sessionOf(broker.url, { ca });
    // A keep-alive connection opened before the reload, used after it.
    const held = await tlsConnect(broker.url, { ca });
    t.teardown(() => held.destroy());
    t.same(parseRawResponse(await exchange(held, commandBytes(['PING']))).body, { result: 'PONG' });

    const keepAlive = new Agent({ keepAlive: true, maxSockets: 4, ca });
    t.teardown(() => keepAlive.destroy());
    let running = true;
    const failures: string[] = [];
    let served = 0;
    // Four callers on keep-alive connections, four opening a connection (a full handshake) per request.
    const callers = [...Array(8).keys()].map(async (i) => {
      while (running) {
        const failure = await incr(broker.url, i < 4 ? keepAlive : false);
        if (failure) failures.push(failure);
        else served++;
      }
    });
    await sleep(300);
    const second = tls.issue('sluice-reloaded');
    tls.install(second);
    const seen = await waitFor(
      async () => {
        const now = await certificateOfNewConnection(broker.url);
        return now.cn === 'sluice-reloaded' ? now : undefined;
      },
      15_000,
      { what: 'a new connection to get the new certificate' },
    );
    if (!seen) throw new Error('unreachable: waitFor throws on timeout');
    t.not(seen.serial, first.serial, 'another serial');
    await sleep(300);
    running = false;
    await Promise.all(callers);
    t.same(failures, [], `no request failed of ${served} served`);
    t.ok(served > 20, `${served} requests served around the reload`);

    // The connection opened before goes on with the certificate it was made with.
    t.same(parseRawResponse(await exchange(held, commandBytes(['PING']))).body, { result: 'PONG' });
    t.equal(held.getPeerCertificate().serialNumber, first.serial);
    // A session made before the reload still resumes after it (the ticket keys stay).
    const resumed = await tlsConnect(broker.url, { ca, session: sessionBefore });
    t.ok(resumed.isSessionReused(), 'a session from before the reload resumes');
    resumed.destroy();

    const samples = await scrape(broker.adminUrl);
    t.equal(value(samples, 'sluice_tls_reloads_total', { outcome: 'applied' }), 1);
    t.equal(value(samples, 'sluice_tls_reloads_total', { outcome: 'rejected' }), 0);
    const reloaded = logLines.map((line) => JSON.parse(line)).find((l) => l.event === 'tls_reloaded');
    t.match(reloaded, { cause: 'file_changed', subject: 'CN=sluice-reloaded', serial: seen.serial });
  },
);

t.test('a bad new certificate keeps the current one and says why', async (t) => {
  const logLines: string[] = [];
  const good = tls.issue('sluice-good');
  tls.install(good);
  const broker = await startTestBroker(redis.url, {
    flags: { 'tls-cert-file': tls.liveCert, 'tls-key-file': tls.liveKey },
    logLines,
  });
  t.teardown(() => broker.close());
  t.equal((await certificateOfNewConnection(broker.url)).cn, 'sluice-good');
  const rejections = () =>
    logLines.map((line) => JSON.parse(line)).filter((l) => l.event === 'tls_reload_rejected');

  // Garbage in the certificate file.
  writeFileSync(tls.liveCert, 'this is not a certificate\n');
  await waitFor(() => rejections().length === 1, 10_000, { what: 'the garbage to be refused' });
  t.match(rejections()[0], {
    cause: 'file_changed',
    reason: /SLUICE_TLS_CERT_FILE .* holds no PEM certificate/,
  });
  t.equal(
    (await certificateOfNewConnection(broker.url)).cn,
    'sluice-good',
    'the old certificate still served',
  );

  // A new certificate with a key that is not its own.
  const other = tls.issue('sluice-other');
  tls.install({ cert: other.cert, key: good.key });
  await waitFor(() => rejections().length === 2, 10_000, { what: 'the mismatched key to be refused' });
  t.match(rejections()[1], { reason: /SLUICE_TLS_KEY_FILE .* is not the private key of the certificate/ });
  t.equal(
    (await certificateOfNewConnection(broker.url)).cn,
    'sluice-good',
    'the old certificate still served',
  );
  const samples = await scrape(broker.adminUrl);
  t.equal(value(samples, 'sluice_tls_reloads_total', { outcome: 'rejected' }), 2);
  t.equal(value(samples, 'sluice_tls_reloads_total', { outcome: 'applied' }), 0);

  // Fixed: the next change is taken; a reload (SIGHUP) of the same files changes nothing.
  tls.install(other);
  await waitFor(async () => (await certificateOfNewConnection(broker.url)).cn === 'sluice-other', 10_000, {
    what: 'the fixed files to be taken',
  });
  broker.reload();
  const after = await scrape(broker.adminUrl);
  t.equal(value(after, 'sluice_tls_reloads_total', { outcome: 'applied' }), 1);
  t.ok(logLines.some((line) => line.includes('"event":"tls_reload_unchanged"')));
});

t.test('with workers: SIGHUP reloads every worker, and a session resumes on any worker', async (t) => {
  tls.install({ cert: tls.serverCert, key: tls.serverKey });
  const broker = await spawnBrokerProcess([
    '--redis-url',
    redis.url,
    '--port',
    '0',
    '--admin-port',
    '0',
    '--token',
    TOKEN,
    '--workers',
    '2',
    '--tls-cert-file',
    tls.liveCert,
    '--tls-key-file',
    tls.liveKey,
  ]);
  t.teardown(() => broker.stop());
  t.match(broker.url, /^https:/);
  // Connections are dealt to the workers in turn: of eight, some land on each, and every one resumes.
  const session = await sessionOf(broker.url, { ca });
  const reused: boolean[] = [];
  for (let i = 0; i < 8; i++) {
    const socket = await tlsConnect(broker.url, { ca, session });
    reused.push(socket.isSessionReused());
    t.same(parseRawResponse(await exchange(socket, commandBytes(['PING']))).body, { result: 'PONG' });
    socket.destroy();
  }
  t.same(reused, Array(8).fill(true), 'every connection resumed the session');

  broker.child.kill('SIGHUP');
  const workersReloaded = () =>
    new Set(
      broker
        .stderr()
        .split('\n')
        .filter((line) => line.includes('"event":"tls_reload_unchanged"'))
        .map((line) => JSON.parse(line).worker),
    ).size;
  await waitFor(() => workersReloaded() === 2, 10_000, { what: 'both workers to reload on SIGHUP' });
  t.equal(broker.child.exitCode, null, 'the primary is still running');
  // And a new certificate reaches both workers.
  const next = tls.issue('sluice-workers');
  tls.install(next);
  await waitFor(
    async () => {
      const cns = new Set<string>();
      for (let i = 0; i < 4; i++) cns.add((await certificateOfNewConnection(broker.url)).cn);
      return cns.size === 1 && cns.has('sluice-workers');
    },
    15_000,
    { what: 'every worker to serve the new certificate' },
  );
  t.equal(readFileSync(tls.liveCert, 'utf8'), readFileSync(next.cert, 'utf8'));
});
