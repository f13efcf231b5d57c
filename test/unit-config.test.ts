// Configuration: flags and SLUICE_* env, defaults, every problem listed at once, --help.
import t from 'tap';
import { ConfigError, envName, flagName, helpText, OPTIONS, parseConfig } from '../broker/config.js';
import { reconnectDelayMs } from '../broker/redis/redis-connection.js';

t.test('defaults, env and flags (flags win)', async (t) => {
  const parsed = parseConfig(['--pool-size', '6', '--queue-max=5'], {
    SLUICE_POOL_SIZE: '3',
    SLUICE_COMMAND_TIMEOUT_MS: '1234',
  });
  if (parsed.help) throw new Error('help');
  t.equal(parsed.config.poolSize, 6);
  t.equal(parsed.config.queueMax, 5);
  t.equal(parsed.config.commandTimeoutMs, 1234);
  t.equal(parsed.config.port, 8080);
  t.equal(parsed.config.adminHost, '127.0.0.1', 'admin host defaults to host');
  t.equal(parsed.config.redisUrl, undefined);
  t.ok(Object.isFrozen(parsed.config));
});

t.test('every problem is listed, naming the setting and what was expected', async (t) => {
  try {
    parseConfig(['--pool-size', '0', '--bogus', '--redis-url', 'http://x'], {
      SLUICE_QUEUE_TIMEOUT_MS: '2s',
      SLUICE_METRICS_ENABLED: 'maybe',
    });
    t.fail('should throw');
  } catch (error) {
    t.ok(error instanceof ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    t.match(problems, /--pool-size="0": expected an integer from 1 to 64/);
    t.match(problems, /unknown argument "--bogus"/);
    t.match(problems, /--redis-url="http:\/\/x": expected a redis:\/\/ or rediss:\/\/ URL/);
    t.match(problems, /SLUICE_QUEUE_TIMEOUT_MS="2s": expected an integer/);
    t.match(problems, /SLUICE_METRICS_ENABLED="maybe": expected true or false/);
    t.equal((error as ConfigError).problems.length, 5);
  }
});

t.test('--help lists every option with its env name and default', async (t) => {
  t.same(parseConfig(['--port', '1', '--help'], {}), { help: true });
  const help = helpText();
  for (const option of OPTIONS) {
    t.match(help, flagName(option.key));
    t.match(help, envName(option.key));
  }
});

t.test('numeric options carry their unit in their name', async (t) => {
  for (const option of OPTIONS) {
    if (option.kind.type !== 'int') continue;
    const countLike = /(Size|Max|Inflight|Workers|Port|Connections|Sockets|Commands|Channels|Burst)$/i.test(
      option.key,
    );
    t.ok(countLike || /(Ms|Bytes|PerSecond)$/.test(option.key), `${option.key} says its unit`);
  }
});

t.test('reconnect delays grow, are jittered and capped', async (t) => {
  t.equal(
    reconnectDelayMs(1, () => 0),
    50,
  );
  t.equal(
    reconnectDelayMs(1, () => 1),
    100,
  );
  t.equal(
    reconnectDelayMs(30, () => 1),
    2000,
  );
  t.ok(reconnectDelayMs(30, () => 0) >= 1000);
});
