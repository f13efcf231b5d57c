// TLS families of the main listener: handshakes (new or resumed), client errors, certificate reloads and expiry.
import type { Counter, Registry } from 'prom-client';
import { advance, counter, gauge } from './family.js';
import type { SourceSet, TlsSample } from './sources.js';

/**
 * A counter of two labels mirrored from two totals of the TLS sample; both series show (at 0) as soon as the
 * listener speaks TLS, none without it.
 */
function pairCounter(
  registry: Registry,
  name: 'sluice_tls_handshakes_total' | 'sluice_tls_client_errors_total' | 'sluice_tls_reloads_total',
  sources: SourceSet,
  labels: readonly [string, string],
  read: (tls: TlsSample) => readonly [number, number],
): void {
  const last = [0, 0];
  counter(registry, name, function (this: Counter) {
    const tls = sources.current.tls?.();
    if (!tls) return;
    const totals = read(tls);
    for (const i of [0, 1]) {
      const child = this.labels(labels[i]!);
      child.inc(0);
      last[i] = advance((by) => child.inc(by), totals[i]!, last[i]!);
    }
  });
}

/** Registers the TLS families; all read `sources` at scrape time (nothing is counted on the hot path here). */
export function registerTlsMetrics(registry: Registry, sources: SourceSet): void {
  pairCounter(registry, 'sluice_tls_handshakes_total', sources, ['new', 'resumed'], (tls) => [
    tls.fullHandshakes,
    tls.resumedHandshakes,
  ]);
  pairCounter(registry, 'sluice_tls_client_errors_total', sources, ['handshake', 'plain_http'], (tls) => [
    tls.handshakeFailures,
    tls.plainHttp,
  ]);
  pairCounter(registry, 'sluice_tls_reloads_total', sources, ['applied', 'rejected'], (tls) => [
    tls.reloadsApplied,
    tls.reloadsRejected,
  ]);
  gauge(registry, 'sluice_tls_certificate_expiry_seconds', function () {
    this.set(sources.current.tls?.().certificateExpirySeconds ?? 0);
  });
}
