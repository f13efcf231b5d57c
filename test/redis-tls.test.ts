// TLS and ACL to Redis: a TLS-only redis-server on a throw-away CA requiring a client certificate, an ACL user in the URL.
import { readFileSync } from 'node:fs';
import { Redis as Upstash } from '@upstash/redis';
import { Redis } from 'ioredis';
import t from 'tap';
import { post, startTestBroker, TOKEN } from './helpers/broker.js';
import { openStream } from './helpers/sse.js';
import { baseArgs, freePort, makeCertificates, pings, spawnServer, tempDir } from './helpers/topology.js';

const dir = tempDir('sluice-tls-');
t.teardown(() => dir.remove());
const certs = makeCertificates(dir.path);
const port = await freePort();
const tlsOptions = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
// The default user is off: every connection must log in as alice, so a connection that ignored the URL's user fails.
const server = await spawnServer(
  [
    // port 0: no plain TCP, TLS only
    ...baseArgs(0),
    '--tls-port',
    String(port),
    '--tls-cert-file',
    certs.serverCert,
    '--tls-key-file',
    certs.serverKey,
    '--tls-ca-cert-file',
    certs.ca,
    '--tls-auth-clients',
    'yes',
    // Multi-word options are given word by word on redis-server's command line.
    '--user',
    'default',
    'off',
    '--user',
    'alice',
    'on',
    '>s3cr3t%/pw',
    '~*',
    '&*',
    '+@all',
  ],
  port,
  () => pings(adminOptions()),
);
t.teardown(() => server.stop());

function adminOptions() {
  return {
    host: '127.0.0.1',
    port,
    username: 'alice',
    password: 's3cr3t%/pw',
    tls: {
      ca: readFileSync(tlsOptions.ca),
      cert: readFileSync(tlsOptions.cert),
      key: readFileSync(tlsOptions.key),
    },
  };
}

const admin = new Redis({ ...adminOptions(), maxRetriesPerRequest: 1 });
admin.on('error', () => {});
t.teardown(() => admin.disconnect());

// The password is percent-encoded in the URL, as any URL user info must be.
const url = `rediss://alice:${encodeURIComponent('s3cr3t%/pw')}@127.0.0.1:${port}`;
// The URL is given as the CLI would too: the TLS options are refused without a rediss:// SLUICE_REDIS_URL.
const tlsFlags = {
  'redis-url': url,
  'redis-tls-ca-file': certs.ca,
  'redis-tls-cert-file': certs.clientCert,
  'redis-tls-key-file': certs.clientKey,
};

t.test('every connection (main, blocking, subscriber, monitor) uses TLS and the ACL user', async (t) => {
  const broker = await startTestBroker(url, { flags: tlsFlags });
  t.teardown(() => broker.close());
  t.equal(broker.notReadyReason(), undefined);

  const client = new Upstash({ url: broker.url, token: TOKEN });
  t.equal(await client.set('tls:key', { a: 1 }), 'OK');
  t.same(await client.get('tls:key'), { a: 1 });
  t.same(await client.pipeline().incr('tls:n').incr('tls:n').exec(), [1, 2]);

  await admin.rpush('tls:list', 'x');
  t.same((await post(broker.url, '/', ['blpop', 'tls:list', '1'])).body, { result: ['tls:list', 'x'] });

  const stream = await openStream(broker.url, '/subscribe/tls-chat');
  t.teardown(() => stream.close());
  await stream.waitFor((line) => line === 'data: subscribe,tls-chat,1');
  t.same((await post(broker.url, '/', ['publish', 'tls-chat', 'hi'])).body, { result: 1 });
  await stream.waitFor((line) => line === 'data: message,tls-chat,hi');

  const monitor = await openStream(broker.url, '/monitor');
  t.teardown(() => monitor.close());
  await monitor.waitFor((line) => line.startsWith('data: '));

  const clients = ((await admin.client('LIST')) as string)
    .split('\n')
    .filter((l) => l.includes(' name=sluice-'));
  const names = new Set(clients.map((l) => /name=(sluice-[a-z]+)/.exec(l)?.[1]));
  for (const name of ['sluice-main', 'sluice-blocking', 'sluice-subscriber', 'sluice-monitor'])
    t.ok(names.has(name), `${name} is connected`);
  t.ok(
    clients.every((l) => l.includes(' user=alice ')),
    'every broker connection is logged in as alice',
  );
});

t.test('a wrong password: not ready, requests get 503 SLUICE_ERR_REDIS_UNAVAILABLE at once', async (t) => {
  const wrong = `rediss://alice:wrong@127.0.0.1:${port}`;
  const broker = await startTestBroker(wrong, { flags: { ...tlsFlags, 'redis-url': wrong } });
  t.teardown(() => broker.close());
  t.equal(broker.notReadyReason(), 'Redis is unreachable');
  const started = Date.now();
  const answer = await post(broker.url, '/', ['get', 'tls:key']);
  t.equal(answer.status, 503);
  t.equal((answer.body as { code: string }).code, 'SLUICE_ERR_REDIS_UNAVAILABLE');
  t.ok(Date.now() - started < 1500, 'answered without waiting for a connection');
});

t.test('without the CA file the server certificate is not trusted: no connection', async (t) => {
  const broker = await startTestBroker(url, {
    flags: {
      'redis-url': url,
      'redis-tls-cert-file': certs.clientCert,
      'redis-tls-key-file': certs.clientKey,
    },
  });
  t.teardown(() => broker.close());
  t.equal(broker.notReadyReason(), 'Redis is unreachable');
  const answer = await post(broker.url, '/', ['get', 'tls:key']);
  t.equal((answer.body as { code: string }).code, 'SLUICE_ERR_REDIS_UNAVAILABLE');
});
