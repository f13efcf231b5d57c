// The shipping files read against the code (Dockerfile, compose, Kubernetes), and the function examples run for real.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
// `yaml` comes with tap (tap-yaml); no extra dependency for parsing the examples.
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { envName, OPTIONS, parseConfig } from '../broker/config.js';
import { freePort } from '../broker/lifecycle/private-redis.js';
import { startTestBroker, TOKEN } from './helpers/broker.js';
import { startRedis } from './helpers/redis.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const run = promisify(execFile);

const OPTION_ENV = new Set(OPTIONS.map((o) => envName(o.key)));
const defaultOf = (key: string) => OPTIONS.find((o) => o.key === key)!.default;
const PORT = defaultOf('port') as number;
const ADMIN_PORT = defaultOf('adminPort') as number;
const DRAIN_MS = defaultOf('drainTimeoutMs') as number;

// --- reading the files ---

interface Instruction {
  readonly stage: number;
  readonly op: string;
  readonly args: string;
}

/** Dockerfile instructions with continuation lines joined, each tagged with its stage (0 = first FROM). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) || (pending === '' && line.trim() === '')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    const [, op, args] = /^(\S+)\s+([\s\S]*)$/.exec(whole)!;
    if (op!.toUpperCase() === 'FROM') stage++;
    out.push({ stage, op: op!.toUpperCase(), args: args!.trim() });
  }
  return out;
}

/** `K=V K2=V2` (ENV's form without quotes) → entries. */
function envPairs(args: string): [string, string][] {
  return args.split(/\s+/).map((pair) => {
    const eq = pair.indexOf('=');
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

/** Every YAML document of a file, as plain objects of the shape the test reads; fails the test on a parse error. */
function readYaml<T>(t: Test, path: string): T[] {
  const docs = parseAllDocuments(read(path));
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) t.same(doc.errors, [], `${path} parses`);
  return list.map((doc) => doc.toJS() as T);
}

// The parts of compose, Prometheus and Kubernetes files the test reads (optional: a missing one fails an assertion).
interface ComposeService {
  command?: string[];
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  volumes?: string[];
}
interface PrometheusConfig {
  scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: Record<string, Record<string, string> | undefined>;
  securityContext?: { runAsUser?: number };
}
interface KubeObject {
  kind: string;
  spec: {
    selector?: { matchLabels: Record<string, string> };
    template?: {
      metadata: { labels: Record<string, string> };
      spec: { containers: Container[]; terminationGracePeriodSeconds: number };
    };
    ports?: { targetPort: string | number }[];
  };
}

/** parseConfig accepts these variables (what the broker would do at start); returns its problems. */
function configProblems(env: Record<string, string>): string[] {
  try {
    parseConfig([], env);
    return [];
  } catch (error) {
    return (error as { problems?: string[] }).problems ?? [String(error)];
  }
}

/** Every SLUICE_* name mentioned anywhere in a text (comments included), so a typo cannot hide in docs either. */
function mentionedVariables(text: string): string[] {
  return [...new Set(text.match(/SLUICE_[A-Z0-9_]+/g) ?? [])];
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const inFinal = (op: string) => dockerfile.filter((i) => i.stage === finalStage && i.op === op);
const imageEnv = Object.fromEntries(inFinal('ENV').flatMap((i) => envPairs(i.args)));

// --- Dockerfile ---

t.test('Dockerfile: CMD is the entry point of `npm start`, in exec form', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  const parts = pkg.scripts['start']!.split('&&').map((s) => s.trim());
  t.match(parts[0], /^npm run build/, 'npm start builds first');
  const entry = parts.at(-1)!.split(/\s+/);
  const cmd = inFinal('CMD');
  t.equal(cmd.length, 1);
  t.same(JSON.parse(cmd[0]!.args), entry, 'CMD = the command npm start runs after its build');
  t.equal(inFinal('ENTRYPOINT').length, 0, 'no ENTRYPOINT wrapping node: SIGTERM reaches it');
});

t.test('Dockerfile: every SLUICE_* variable is a real option and accepted', async (t) => {
  for (const name of mentionedVariables(read('Dockerfile')))
    t.ok(OPTION_ENV.has(name), `${name} is an option`);
  t.same(imageEnv['SLUICE_HOST'], '0.0.0.0');
  t.same(imageEnv['SLUICE_ADMIN_HOST'], '0.0.0.0');
  const sluiceEnv = Object.fromEntries(Object.entries(imageEnv).filter(([k]) => k.startsWith('SLUICE_')));
  t.same(configProblems(sluiceEnv), []);
});

t.test('Dockerfile: EXPOSE = the default main and admin ports', async (t) => {
  const exposed = inFinal('EXPOSE').flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
  t.same(exposed.sort(), [PORT, ADMIN_PORT].sort());
});

t.test('Dockerfile: two stages, slim Node 20 runtime, production dependencies, non-root', async (t) => {
  const froms = dockerfile.filter((i) => i.op === 'FROM').map((i) => i.args);
  t.equal(froms.length, 2);
  t.match(froms[0], /^node:20-bookworm-slim AS build$/);
  t.equal(froms[1], 'node:20-bookworm-slim');
  const buildRuns = dockerfile.filter((i) => i.stage === 0 && i.op === 'RUN').map((i) => i.args);
  t.ok(
    buildRuns.some((r) => /^npm ci\b/.test(r) && !r.includes('--omit')),
    'build stage installs dev dependencies',
  );
  t.ok(
    buildRuns.some((r) => r === 'npm run build'),
    'build stage runs npm run build',
  );
  t.ok(
    inFinal('RUN').some((i) => /^npm ci --omit=dev\b/.test(i.args)),
    'runtime installs production dependencies only',
  );
  t.ok(
    inFinal('COPY').some((i) => /^--from=build \/app\/dist \.\/dist$/.test(i.args)),
    'runtime copies dist/ from the build',
  );
  const user = inFinal('USER').at(-1)?.args;
  t.equal(user, 'node', 'runs as the unprivileged node user');
});

/** Module specifiers a TS file imports (statically, re-exported or dynamically). */
function specifiers(text: string): string[] {
  return [
    ...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gm),
    ...text.matchAll(/^import\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ].map((m) => m[1]!);
}

/**
 * A TS file's relative imports (all of them: tsc needs type-only ones to build) and the packages it loads at run
 * time (type-only imports left out: they vanish from the JavaScript).
 */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(file, 'utf8');
  const local = specifiers(text)
    .filter((s) => s.startsWith('.'))
    .map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
  const packages = specifiers(text.replace(/^import type [^;]*?from '[^']+';/gm, ''))
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
  return { local, packages };
}

t.test(
  'Dockerfile: the build stage copies every source the entry point needs; runtime needs no dev dependency',
  async (t) => {
    const copied = dockerfile
      .filter((i) => i.stage === 0 && i.op === 'COPY')
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'])
      t.ok(copied.includes(file), `${file} copied`);
    const ignored = read('.dockerignore')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const seen = new Set<string>();
    const queue = [join(root, 'broker/main.ts')];
    const packages = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const { local, packages: bare } = importsOf(file);
      for (const p of bare) packages.add(p);
      queue.push(...local);
    }
    const topDirs = new Set([...seen].map((f) => relative(root, f).split('/')[0]!));
    for (const dir of topDirs) {
      t.ok(copied.includes(dir), `${dir}/ is copied into the build stage`);
      t.notOk(ignored.includes(dir), `${dir}/ is not in .dockerignore`);
    }
    t.ok(seen.size > 10, `${seen.size} source files reached from broker/main.ts`);
    for (const p of packages) t.ok(pkg.dependencies[p], `${p} is a production dependency`);
    for (const heavy of ['node_modules', 'dist', '.git'])
      t.ok(ignored.includes(heavy), `.dockerignore has ${heavy}`);
  },
);

// --- compose ---

t.test('compose: services, variables, ports, grace period, Prometheus scraping the admin port', async (t) => {
  const [compose] = readYaml<{ services: Record<string, ComposeService> }>(t, 'examples/docker-compose.yml');
  const services = compose!.services;
  t.same(Object.keys(services).sort(), ['prometheus', 'redis', 'sluice']);
  const sluice = services['sluice']!;

  t.equal(
    resolve(root, 'examples', sluice.build!.context, sluice.build!.dockerfile),
    join(root, 'Dockerfile'),
  );
  for (const name of mentionedVariables(read('examples/docker-compose.yml')))
    t.ok(OPTION_ENV.has(name), `${name} is an option`);
  const env = Object.fromEntries(
    Object.entries(sluice.environment!).map(([k, v]) => [
      k,
      String(v).startsWith('${') ? 'a-token-from-the-shell' : String(v),
    ]),
  );
  for (const name of Object.keys(env)) t.ok(OPTION_ENV.has(name), `compose sets ${name}, an option`);
  t.same(configProblems({ ...imageEnv, ...env }), [], 'the broker accepts the image + compose variables');
  t.match(
    sluice.environment!['SLUICE_TOKEN'],
    /^\$\{SLUICE_TOKEN:\?/,
    'the token comes from the shell, required',
  );
  const redisHost = new URL(env['SLUICE_REDIS_URL']!).hostname;
  t.ok(services[redisHost], `SLUICE_REDIS_URL names the ${redisHost} service`);
  t.same(sluice.depends_on?.[redisHost], { condition: 'service_healthy' });

  const containerPorts = sluice.ports!.map((p) => Number(p.split(':').at(-1))).sort();
  t.same(containerPorts, [PORT, ADMIN_PORT].sort(), 'published ports are the defaults');
  t.ok(
    Number(/^(\d+)s$/.exec(sluice.stop_grace_period!)![1]) * 1000 > DRAIN_MS,
    'grace period > drain timeout',
  );

  const volume = services['prometheus']!.volumes![0]!;
  const [source, target] = volume.split(':');
  t.equal(target, '/etc/prometheus/prometheus.yml');
  const [prom] = readYaml<PrometheusConfig>(t, relative(root, resolve(root, 'examples', source!)));
  const job = prom!.scrape_configs.find((j) => j.job_name === 'sluice')!;
  t.equal(job.metrics_path, '/metrics');
  t.same(
    job.static_configs[0]!.targets,
    [`sluice:${ADMIN_PORT}`],
    'scrapes the sluice service on the admin port',
  );
});

t.test(
  'compose for read regions: a replica of the primary, two brokers sharing the sync secret',
  async (t) => {
    const file = 'examples/docker-compose.read-regions.yml';
    const [compose] = readYaml<{ services: Record<string, ComposeService> }>(t, file);
    const services = compose!.services;
    for (const name of mentionedVariables(read(file))) t.ok(OPTION_ENV.has(name), `${name} is an option`);
    const envOf = (name: string): Record<string, string> =>
      Object.fromEntries(
        Object.entries(services[name]!.environment!).map(([k, v]) => [
          k,
          String(v).startsWith('${') ? 'a-value-from-the-shell' : String(v),
        ]),
      );
    const primaryRegion = envOf('sluice-primary-region');
    const readRegion = envOf('sluice-read-region');
    for (const env of [primaryRegion, readRegion])
      t.same(configProblems({ ...imageEnv, ...env }), [], 'the broker accepts the image + compose variables');
    const host = (url: string | undefined) => new URL(url!).hostname;
    t.equal(host(primaryRegion['SLUICE_REDIS_URL']), 'redis-primary');
    t.equal(host(readRegion['SLUICE_REDIS_URL']), 'redis-primary', 'the read region writes to the primary');
    t.equal(host(readRegion['SLUICE_REPLICA_URL']), 'redis-replica', 'and reads from its replica');
    t.same(services['redis-replica']!.command!.slice(-3), ['--replicaof', 'redis-primary', '6379']);
    t.equal(
      services['sluice-read-region']!.environment!['SLUICE_SYNC_SECRET'],
      services['sluice-primary-region']!.environment!['SLUICE_SYNC_SECRET'],
      'one secret for the deployment',
    );
    // README's trimmed copy says the same
    const readme = read('README.md');
    const start = readme.indexOf('```yaml\n# examples/docker-compose.read-regions.yml');
    t.ok(start >= 0, "README quotes the file in its 'Read regions' section");
    const yamlText = readme.slice(readme.indexOf('\n', start) + 1, readme.indexOf('```', start + 7));
    const quoted = parseYaml(yamlText) as { services: Record<string, ComposeService> };
    for (const [name, service] of Object.entries(quoted.services)) {
      t.same(service.environment, services[name]?.environment, `README: ${name}'s environment`);
      t.same(service.command, services[name]?.command, `README: ${name}'s command`);
    }
  },
);

// --- Kubernetes ---

t.test(
  'Kubernetes: Sluice beside Redis, probes on the admin port, limits, token from a Secret',
  async (t) => {
    const path = 'examples/kubernetes/sluice-sidecar.yaml';
    const docs = readYaml<KubeObject>(t, path);
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    t.ok(deployment, 'has a Deployment');
    const pod = deployment.spec.template!.spec;
    t.same(deployment.spec.selector!.matchLabels, deployment.spec.template!.metadata.labels);
    const containers = pod.containers;
    t.same(containers.map((c) => c.name).sort(), ['redis', 'sluice']);
    const sluice = containers.find((c) => c.name === 'sluice')!;

    for (const name of mentionedVariables(read(path))) t.ok(OPTION_ENV.has(name), `${name} is an option`);
    const env: Record<string, string> = {};
    for (const e of sluice.env ?? []) {
      t.ok(OPTION_ENV.has(e.name), `${e.name} is an option`);
      env[e.name] = e.value ?? 'from-a-secret';
    }
    t.same(configProblems({ ...imageEnv, ...env }), [], 'the broker accepts the image + pod variables');
    const token = (sluice.env ?? []).find((e) => e.name === 'SLUICE_TOKEN');
    t.ok(token?.valueFrom?.secretKeyRef?.name, 'SLUICE_TOKEN comes from a Secret');
    t.equal(new URL(env['SLUICE_REDIS_URL']!).hostname, '127.0.0.1', 'Redis over the pod loopback');

    const ports = Object.fromEntries((sluice.ports ?? []).map((p) => [p.name, p.containerPort]));
    t.same(Object.values(ports).sort(), [PORT, ADMIN_PORT].sort(), 'container ports are the defaults');
    const portOf = (p: string | number) => (typeof p === 'number' ? p : ports[p]);
    t.equal(sluice.readinessProbe?.httpGet.path, '/readyz');
    t.equal(portOf(sluice.readinessProbe!.httpGet.port), ADMIN_PORT, 'readiness on the admin port');
    t.equal(sluice.livenessProbe?.httpGet.path, '/healthz');
    t.equal(portOf(sluice.livenessProbe!.httpGet.port), ADMIN_PORT, 'liveness on the admin port');

    for (const c of containers)
      for (const kind of ['requests', 'limits'])
        for (const resource of ['cpu', 'memory'])
          t.ok(c.resources?.[kind]?.[resource], `${c.name}: resources.${kind}.${resource}`);
    t.ok(pod.terminationGracePeriodSeconds * 1000 > DRAIN_MS, 'grace period > drain timeout');
    t.equal(sluice.securityContext?.runAsUser, 1000, "the image's node user");

    const service = docs.find((d) => d.kind === 'Service')!;
    for (const p of service.spec.ports ?? [])
      t.ok(portOf(p.targetPort), `Service targets the container port ${p.targetPort}`);
  },
);

// --- against a live broker ---

const redis = await startRedis();
t.teardown(() => redis.stop());
const broker = await startTestBroker(redis.url);
t.teardown(() => broker.close());

t.test('the HEALTHCHECK command and the probe paths answer on a live admin listener', async (t) => {
  for (const path of ['/healthz', '/readyz']) {
    const response = await fetch(broker.adminUrl + path);
    t.equal(response.status, 200, `${path} is served`);
  }
  const check = inFinal('HEALTHCHECK')[0]!.args;
  t.match(check, /\/healthz/);
  const command = JSON.parse(check.slice(check.indexOf('CMD ') + 4)) as string[];
  t.equal(command[0], 'node', 'uses node itself (no curl in slim images)');
  const adminPort = new URL(broker.adminUrl).port;
  const ok = await run(process.execPath, command.slice(1), { env: { SLUICE_ADMIN_PORT: adminPort } });
  t.equal(ok.stderr, '', 'exit 0 against a live broker');
  const closed = String(await freePort());
  await t.rejects(
    run(process.execPath, command.slice(1), { env: { SLUICE_ADMIN_PORT: closed } }),
    { code: 1 },
    'exit 1 when nothing answers',
  );
});

t.test('Lambda example with @upstash/redis runs against Sluice', async (t) => {
  process.env['UPSTASH_REDIS_REST_URL'] = broker.url;
  process.env['UPSTASH_REDIS_REST_TOKEN'] = TOKEN;
  process.env['UPSTASH_DISABLE_TELEMETRY'] = '1';
  const { handler } = await import('../examples/lambda/upstash-redis.js');
  t.same(await handler({ page: '/home' }), { views: 1, top: ['/home'] });
  t.same(await handler({ page: '/about' }), { views: 1, top: ['/home', '/about'] });
  t.same(await handler({ page: '/about' }), { views: 2, top: ['/about', '/home'] });
  const key = `views:${new Date().toISOString().slice(0, 10)}`;
  t.equal(await redis.client().zscore(key, '/about'), '2', 'stored in Redis');
  t.ok((await redis.client().ttl(key)) > 0, 'with an expiry');
});

type Esbuild = {
  build(options: object): Promise<unknown>;
};
const esbuild = (await import('esbuild' as string).catch(() => undefined)) as Esbuild | undefined;

t.test(
  'Lambda example with client/ over WS runs against Sluice (bundled as for deployment)',
  { skip: !esbuild && 'esbuild is not installed' },
  async (t) => {
    // Inside node_modules so the bundle's external `ws` import resolves from the project.
    const dir = join(root, 'node_modules', '.cache', `sluice-ship-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const outfile = join(dir, 'index.mjs');
    const clientIndex = join(root, 'client', 'index.ts');
    await esbuild!.build({
      entryPoints: [join(root, 'examples', 'lambda', 'sluice-client-ws.ts')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      outfile,
      external: ['ws'],
      logLevel: 'silent',
      // The example imports `sluice/client` as a function package would; here it is this checkout's client/.
      plugins: [
        {
          name: 'sluice-client',
          setup(build: { onResolve(o: object, f: () => object): void }) {
            build.onResolve({ filter: /^sluice\/client$/ }, () => ({ path: clientIndex }));
          },
        },
      ],
    });
    t.ok(statSync(outfile).size > 0);
    process.env['SLUICE_URL'] = broker.url;
    process.env['SLUICE_TOKEN'] = TOKEN;
    const { handler } = (await import(pathToFileURL(outfile).href)) as {
      handler(e: { queue: string; job: string }): Promise<{ length: number; oldest: string | null }>;
    };
    t.same(await handler({ queue: 'mail', job: 'job-1' }), { length: 1, oldest: 'job-1' });
    t.same(await handler({ queue: 'mail', job: 'job-2' }), { length: 2, oldest: 'job-1' });
    t.same(await redis.client().lrange('queue:mail', 0, -1), ['job-1', 'job-2']);
    t.ok(Number(await redis.client().hget('queue:mail:meta', 'last-push-ms')) > 0);
  },
);

t.test('the examples typecheck (examples/tsconfig.json)', async (t) => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '-p', join(root, 'examples', 'tsconfig.json')]).catch(
    (error: { stdout: string }) => ({ stdout: error.stdout, failed: true }),
  );
  t.notOk('failed' in result, result.stdout || 'tsc -p examples/tsconfig.json is clean');
});
