// docs/metrics.md, the metric catalogue and the registered families agree; the docs and dashboard name only real ones.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { METRICS, metricsTable } from '../metrics/catalogue.js';
import { createMetrics } from '../metrics/index.js';

const DOC = new URL('../docs/metrics.md', import.meta.url);

/** The metrics table in the document: the block of lines starting at its header row. */
function documentedTable(): string[] {
  const lines = readFileSync(DOC, 'utf8').split('\n');
  const start = lines.indexOf(metricsTable()[0]!);
  if (start === -1) return [];
  const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
  return lines.slice(start, end === -1 ? undefined : end);
}

/** Families registered by createMetrics, without prom-client's default process metrics. */
async function registeredFamilies() {
  const { registry } = createMetrics({ maxRunning: 1, processMetrics: false });
  return (await registry.getMetricsAsJSON()).map((m) => ({
    name: m.name,
    type: String(m.type),
    labels: [...((registry.getSingleMetric(m.name) as unknown as { labelNames: string[] }).labelNames ?? [])],
    help: m.help,
  }));
}

t.test('the documented table is exactly the catalogue rendered', async (t) => {
  t.same(documentedTable(), metricsTable());
});

t.test('every registered family is documented, and every documented family is registered', async (t) => {
  const documented = documentedTable()
    .slice(2)
    .map((line) => /^\| `([a-z_]+)`/.exec(line)?.[1]);
  const registered = await registeredFamilies();
  t.same([...documented].sort(), registered.map((m) => m.name).sort());
});

t.test('the catalogue states each family as registered: type, labels, help', async (t) => {
  const registered = new Map((await registeredFamilies()).map((m) => [m.name, m]));
  for (const spec of METRICS) {
    t.same(
      registered.get(spec.name),
      { name: spec.name, type: spec.type, labels: [...spec.labels], help: spec.help },
      spec.name,
    );
  }
});

t.test('names follow sluice_<what>_<unit>: counters end in _total, no other family does', async (t) => {
  for (const spec of METRICS) {
    t.match(spec.name, /^sluice_[a-z_]+$/, spec.name);
    t.equal(spec.name.endsWith('_total'), spec.type === 'counter', `${spec.name} is a ${spec.type}`);
    t.notMatch(spec.name, /_(ms|milliseconds|kb|mb)\b/, `${spec.name} uses seconds and bytes`);
  }
});

t.test('default process metrics carry the prefix', async (t) => {
  const { registry } = createMetrics({ maxRunning: 1 });
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
  t.ok(names.includes('sluice_nodejs_eventloop_lag_seconds'));
  t.same(
    names.filter((n) => !n.startsWith('sluice_')),
    [],
    'every family starts with sluice_',
  );
});

t.test('the dashboard and the docs only name families that exist', async (t) => {
  const known = new Set<string>(METRICS.map((m) => m.name));
  const { registry } = createMetrics({ maxRunning: 1 });
  for (const m of await registry.getMetricsAsJSON()) known.add(m.name);
  const docs = readdirSync(new URL('../docs/', import.meta.url))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `../docs/${name}`);
  t.ok(docs.includes('../docs/metrics.md'));
  for (const file of ['../metrics/dashboard.json', '../README.md', ...docs]) {
    const text = readFileSync(new URL(file, import.meta.url), 'utf8');
    const names = new Set(
      [...text.matchAll(/\bsluice_[a-z0-9_]+/g)]
        .map(([name]) => name.replace(/_(bucket|sum|count)$/, ''))
        .filter((name) => name !== 'sluice_' && !name.endsWith('_')),
    );
    for (const name of names) t.ok(known.has(name), `${file}: ${name}`);
  }
});
