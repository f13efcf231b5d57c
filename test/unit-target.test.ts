// RedisTarget: address lists, the TLS/Sentinel ioredis options, password-free descriptions; config validation.
import t from 'tap';
import { parseConfig } from '../broker/config.js';
import { createRedisTarget, describeTarget, parseAddresses, targetOptions } from '../broker/redis/target.js';

t.test('parseAddresses', async (t) => {
  t.same(parseAddresses('a:1, 10.0.0.2:26379,[::1]:7000'), [
    { host: 'a', port: 1 },
    { host: '10.0.0.2', port: 26379 },
    { host: '::1', port: 7000 },
  ]);
  t.throws(() => parseAddresses('a'));
  t.throws(() => parseAddresses('a:0'));
  t.throws(() => parseAddresses('a:70000'));
});

t.test('a standalone redis:// target adds nothing; rediss:// adds TLS', async (t) => {
  t.same(targetOptions(createRedisTarget('redis://h:1', {})), {});
  const tls = createRedisTarget('rediss://h:1', { redisTlsServername: 'redis.internal' });
  t.same(targetOptions(tls), { tls: { servername: 'redis.internal' } });
});

t.test('a Sentinel target: sentinels, name, failover detector, READONLY reconnects', async (t) => {
  const target = createRedisTarget('redis://u:p@ignored:1/2', {
    redisSentinels: 'a:26379,b:26380',
    redisSentinelName: 'mymaster',
  });
  const options = targetOptions(target);
  t.same(options.sentinels, [
    { host: 'a', port: 26379 },
    { host: 'b', port: 26380 },
  ]);
  t.equal(options.name, 'mymaster');
  t.equal(options.failoverDetector, true);
  const reconnect = options.reconnectOnError as (error: Error) => boolean | 1 | 2;
  t.equal(reconnect(new Error("READONLY You can't write against a read only replica.")), 1);
  t.equal(reconnect(new Error('ERR wrong number of arguments')), false);
  t.equal(describeTarget(target), 'sentinel mymaster@a:26379,b:26380 (redis://u:***@ignored:1/2)');
});

t.test('describeTarget hides the password', async (t) => {
  t.equal(describeTarget({ url: 'rediss://alice:secret@h:6380' }), 'rediss://alice:***@h:6380');
  t.equal(describeTarget({ url: 'redis://:secret@h:6379' }), 'redis://***@h:6379');
  t.equal(describeTarget({ url: 'redis://h:6379' }), 'redis://h:6379');
});

t.test('config: sentinel options are validated and go together', async (t) => {
  const parse = (argv: string[]) => parseConfig(argv, {});
  const ok = parse(['--redis-sentinels', 'a:1,b:2', '--redis-sentinel-name', 'mymaster']);
  t.equal(ok.help === false && ok.config.redisSentinels, 'a:1,b:2');
  t.throws(() => parse(['--redis-sentinels', 'a:1']), /set both or neither/);
  t.throws(() => parse(['--redis-sentinels', 'a', '--redis-sentinel-name', 'm']), /host:port/);
  t.throws(() => parse(['--redis-tls-ca-file', '/ca.pem']), /need a rediss:\/\//);
  t.throws(
    () => parse(['--redis-url', 'rediss://h:1', '--redis-tls-cert-file', '/c.pem']),
    /set both or neither/,
  );
  t.throws(
    () => parse(['--redis-cluster-nodes', 'a:1', '--redis-sentinels', 'b:2', '--redis-sentinel-name', 'm']),
    /exclude each other/,
  );
  const tls = parse(['--redis-url', 'rediss://h:1', '--redis-tls-ca-file', '/ca.pem']);
  t.equal(tls.help === false && tls.config.redisTlsCaFile, '/ca.pem');
  const env = parseConfig([], { SLUICE_REDIS_SENTINELS: 'x:26379', SLUICE_REDIS_SENTINEL_NAME: 'm' });
  t.equal(env.help === false && env.config.redisSentinelName, 'm');
});
