// The main listener over TLS (SLUICE_TLS_CERT_FILE): REST on the fast path and node:http, WSS, SSE over HTTPS,
// TLS 1.2+, session resumption, plain HTTP and bad handshakes on the port, mTLS, and the start-up checks of the files.
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import t from 'tap';
import { WebSocket } from 'ws';
import { parseConfig } from '../broker/config.js';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { scrape, value } from './helpers/metrics.js';
import { parseRawResponse, rawExchange } from './helpers/load.js';
import { startRedis } from './helpers/redis.js';
import { waitFor } from './helpers/time.js';
import { commandBytes, exchange, httpsCall, makeTlsFixture, sessionOf, tlsConnect } from './helpers/tls.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const tls = makeTlsFixture();
t.teardown(() => tls.remove());
const broker = await startTestBroker(redis.url, {
  flags: { 'tls-cert-file': tls.liveCert, 'tls-key-file': tls.liveKey },
});
t.teardown(() => broker.close());
const ca = tls.caPem;

t.test('the listener speaks HTTPS; the admin listener stays plain HTTP', async (t) => {
  t.match(broker.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.match(broker.adminUrl, /^http:\/\//);
  t.same((await httpsCall(broker.url, '/', ['SET', 'tls:a', 'x'], { ca })).body, { result: 'OK' });
  t.same((await httpsCall(broker.url, '/get/tls:a', undefined, { ca, method: 'GET' })).body, { result: 'x' });
  t.equal((await fetch(`${broker.adminUrl}/healthz`)).status, 200);
});

t.test(
  'one keep-alive TLS connection: pipelined fast-path requests, then one node:http serves',
  async (t) => {
    const socket = await tlsConnect(broker.url, { ca });
    t.teardown(() => socket.destroy());
    const two = await exchange(
      socket,
      commandBytes(['SET', 'tls:k', '1']) + commandBytes(['INCR', 'tls:k']),
      2,
    );
    t.equal(two.match(/HTTP\/1\.1 200/g)?.length ?? 0, 2, 'both pipelined requests answered');
    // A chunked body is not the fast path's: the connection is handed to node:http, still over TLS.
    const chunkedBody = JSON.stringify(['GET', 'tls:k']);
    const chunked = await exchange(
      socket,
      `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${chunkedBody.length.toString(16)}\r\n${chunkedBody}\r\n0\r\n\r\n`,
    );
    t.same(parseRawResponse(chunked).body, { result: '2' });
    const after = await exchange(socket, commandBytes(['GET', 'tls:k']));
    t.same(parseRawResponse(after).body, { result: '2' }, 'node:http keeps serving the connection');
  },
);

t.test('WSS: /ws over TLS; a refused upgrade is answered over TLS', async (t) => {
  const ws = new WebSocket(`${broker.url.replace('https', 'wss')}/ws`, {
    ca,
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  t.teardown(() => ws.close());
  const reply = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(String(data))));
  ws.send(JSON.stringify({ id: 1, cmd: ['SET', 'tls:ws', 'y'] }));
  t.same(JSON.parse(await reply), { id: 1, result: 'OK' });
  // Refused upgrades are answered over TLS too.
  const refused = await new Promise<number>((resolve, reject) => {
    const bad = new WebSocket(`${broker.url.replace('https', 'wss')}/ws`, { ca });
    bad.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    bad.once('error', reject);
  });
  t.equal(refused, 401);
});

t.test('SSE over HTTPS: a subscription gets what is published', async (t) => {
  const socket = await tlsConnect(broker.url, { ca });
  t.teardown(() => socket.destroy());
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  socket.write(
    `GET /subscribe/tls-news HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nAccept: text/event-stream\r\n\r\n`,
  );
  await waitFor(() => text.includes('data: subscribe,tls-news,1'), 10_000, { what: 'the subscribe event' });
  await httpsCall(broker.url, '/', ['PUBLISH', 'tls-news', 'hello'], { ca });
  await waitFor(() => text.includes('data: message,tls-news,hello'), 10_000, { what: 'the message event' });
  t.match(text, /^HTTP\/1\.1 200/);
});

t.test('TLS 1.2 is served; TLS 1.1 is refused in the handshake', async (t) => {
  const v12 = await tlsConnect(broker.url, { ca, maxVersion: 'TLSv1.2' });
  t.equal(v12.getProtocol(), 'TLSv1.2');
  v12.destroy();
  const v11 = await tlsConnect(broker.url, { ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }).then(
    () => 'connected',
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  t.not(v11, 'connected', `TLS 1.1 refused (${v11})`);
});

t.test("a client's second connection resumes its session (no full handshake)", async (t) => {
  const before = await scrape(broker.adminUrl);
  const session = await sessionOf(broker.url, { ca });
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const ticket = maxVersion === 'TLSv1.3' ? session : await sessionOf(broker.url, { ca, maxVersion });
    const again = await tlsConnect(broker.url, { ca, session: ticket, maxVersion });
    t.ok(again.isSessionReused(), `${maxVersion}: resumed`);
    const answer = await exchange(again, commandBytes(['PING']));
    t.same(parseRawResponse(answer).body, { result: 'PONG' });
    again.destroy();
  }
  const after = await scrape(broker.adminUrl);
  const resumed = (s: typeof after) => value(s, 'sluice_tls_handshakes_total', { session: 'resumed' });
  t.equal(resumed(after) - resumed(before), 2, 'counted as resumed handshakes');
});

t.test('plain HTTP on the TLS port gets a clear 400 in clear text, then the connection closes', async (t) => {
  const before = await scrape(broker.adminUrl);
  const plainUrl = broker.url.replace('https:', 'http:');
  const text = await rawExchange(plainUrl, commandBytes(['GET', 'tls:a']));
  const response = parseRawResponse(text);
  t.equal(response.status, 400);
  t.match(response.body, {
    code: 'SLUICE_ERR_HTTP_NOT_TLS',
    error: /this port speaks HTTPS: use https:\/\//,
  });
  t.match(response.head, /Connection: close/);
  // fetch sees an answer, not a reset.
  const viaFetch = await fetch(`${plainUrl}/get/tls:a`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  t.equal(viaFetch.status, 400);
  t.match(await viaFetch.text(), /SLUICE_ERR_HTTP_NOT_TLS/);
  const after = await scrape(broker.adminUrl);
  t.equal(
    value(after, 'sluice_tls_client_errors_total', { kind: 'plain_http' }) -
      value(before, 'sluice_tls_client_errors_total', { kind: 'plain_http' }),
    2,
  );
});

t.test(
  'bad handshakes (garbage, a reset in the middle, an untrusted client) never crash the broker',
  async (t) => {
    const before = await scrape(broker.adminUrl);
    const { hostname, port } = new URL(broker.url);
    const garbage = await rawExchange(
      broker.url.replace('https:', 'http:'),
      Buffer.from([0x16, 3, 1, 0, 4, 0xff, 0, 0, 0]),
    );
    t.ok(
      garbage === '' || garbage.charCodeAt(0) === 0x15,
      'a broken ClientHello gets a TLS alert at most, no HTTP',
    );
    // A ClientHello cut by a reset.
    await new Promise<void>((resolve) => {
      const socket = tcpConnect(Number(port), hostname, () => {
        socket.write(Buffer.from([0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]));
        setTimeout(() => {
          socket.resetAndDestroy();
          resolve();
        }, 50);
      });
      socket.on('error', () => {});
    });
    // A client that does not trust the certificate aborts the handshake.
    const untrusted = await tlsConnect(broker.url).then(
      () => 'connected',
      (error: NodeJS.ErrnoException) => error.code,
    );
    t.equal(untrusted, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    await waitFor(
      async () =>
        value(await scrape(broker.adminUrl), 'sluice_tls_client_errors_total', { kind: 'handshake' }) -
          value(before, 'sluice_tls_client_errors_total', { kind: 'handshake' }) >=
        3,
      10_000,
      { what: 'three failed handshakes counted' },
    );
    t.same((await httpsCall(broker.url, '/', ['PING'], { ca })).body, { result: 'PONG' }, 'still serving');
  },
);

t.test('a client that connects and says nothing is closed after the headers timeout', async (t) => {
  const quick = await startTestBroker(redis.url, {
    flags: {
      'tls-cert-file': tls.liveCert,
      'tls-key-file': tls.liveKey,
      'http-headers-timeout-ms': 300,
    },
  });
  t.teardown(() => quick.close());
  const { hostname, port } = new URL(quick.url);
  const closedAfter = await new Promise<number>((resolve) => {
    const started = Date.now();
    const socket = tcpConnect(Number(port), hostname);
    socket.on('error', () => {});
    socket.on('close', () => resolve(Date.now() - started));
  });
  t.ok(closedAfter >= 250 && closedAfter < 10_000, `closed after ${closedAfter} ms`);
});

t.test('the certificate metrics: expiry of the one in use', async (t) => {
  const samples = await scrape(broker.adminUrl);
  const expiry = value(samples, 'sluice_tls_certificate_expiry_seconds');
  t.ok(expiry > Date.now() / 1000 && expiry < Date.now() / 1000 + 3 * 86400, 'in two days');
});

t.test('mTLS: a client without a certificate, or with one from another CA, is refused', async (t) => {
  const mtls = await startTestBroker(redis.url, {
    flags: {
      'tls-cert-file': tls.liveCert,
      'tls-key-file': tls.liveKey,
      'tls-client-ca-file': tls.ca,
    },
  });
  t.teardown(() => mtls.close());
  const cert = (await import('node:fs')).readFileSync(tls.clientCert);
  const key = (await import('node:fs')).readFileSync(tls.clientKey);
  t.same((await httpsCall(mtls.url, '/', ['PING'], { ca, cert, key })).body, { result: 'PONG' });
  const without = await httpsCall(mtls.url, '/', ['PING'], { ca }).then(
    (r) => `answered ${r.status}`,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  t.match(without, /CERTIFICATE_REQUIRED|ECONNRESET|EPROTO/, `refused: ${without}`);
  // A certificate the client signed itself: not from the CA.
  const other = makeTlsFixture();
  t.teardown(() => other.remove());
  const foreign = await httpsCall(mtls.url, '/', ['PING'], {
    ca,
    cert: other.caPem,
    key: (await import('node:fs')).readFileSync(`${other.dir}/ca.key`),
  }).then(
    (r) => `answered ${r.status}`,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  t.match(foreign, /UNKNOWN_CA|ECONNRESET|EPROTO|BAD_CERTIFICATE/, `refused: ${foreign}`);
  t.same(
    (await httpsCall(mtls.url, '/', ['PING'], { ca, cert, key })).body,
    { result: 'PONG' },
    'still serving',
  );
});

t.test('configuration: the files go together, and must be there and match at start-up', async (t) => {
  const problems = (env: Record<string, string>) => {
    try {
      parseConfig([], env);
      return [];
    } catch (error) {
      return (error as { problems: string[] }).problems;
    }
  };
  t.same(problems({ SLUICE_TLS_CERT_FILE: tls.liveCert }), [
    'SLUICE_TLS_CERT_FILE and SLUICE_TLS_KEY_FILE go together: set both or neither',
  ]);
  t.match(problems({ SLUICE_TLS_CLIENT_CA_FILE: tls.ca }), [
    /SLUICE_TLS_CLIENT_CA_FILE needs SLUICE_TLS_CERT_FILE/,
  ]);
  const start = (flags: Record<string, string>) =>
    startTestBroker(redis.url, { flags }).then(
      async (b) => {
        await b.close();
        return 'started';
      },
      (error: Error) => error.message,
    );
  t.match(
    await start({ 'tls-cert-file': `${tls.dir}/missing.crt`, 'tls-key-file': tls.liveKey }),
    /^cannot read SLUICE_TLS_CERT_FILE .*missing\.crt: ENOENT/,
  );
  t.match(
    await start({ 'tls-cert-file': tls.liveCert, 'tls-key-file': tls.clientKey }),
    /SLUICE_TLS_KEY_FILE .*client\.key is not the private key of the certificate in SLUICE_TLS_CERT_FILE/,
  );
  const garbage = `${tls.dir}/garbage.pem`;
  writeFileSync(garbage, 'not a certificate\n');
  t.match(
    await start({ 'tls-cert-file': garbage, 'tls-key-file': tls.liveKey }),
    /SLUICE_TLS_CERT_FILE .*garbage\.pem holds no PEM certificate/,
  );
  t.match(
    await start({ 'tls-cert-file': tls.liveCert, 'tls-key-file': garbage }),
    /SLUICE_TLS_KEY_FILE .*garbage\.pem holds no unencrypted PEM private key/,
  );
  t.match(
    await start({
      'tls-cert-file': tls.liveCert,
      'tls-key-file': tls.liveKey,
      'tls-client-ca-file': garbage,
    }),
    /SLUICE_TLS_CLIENT_CA_FILE .*garbage\.pem holds no PEM certificate/,
  );
});
