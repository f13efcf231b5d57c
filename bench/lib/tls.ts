// TLS for scenario 9: a throw-away CA and server certificate made by openssl, and Debian's nginx terminating TLS in
// front of a plain broker (the set-up Sluice's own TLS is compared with).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HttpPeer } from './peers.js';
import { freePort } from './ports.js';
import { startService } from './proc.js';

/** PEM files of a CA and of a server certificate for 127.0.0.1 and localhost that it signed. */
export interface BenchCertificates {
  readonly dir: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Makes the certificates with openssl (P-256 keys and ECDSA signatures, as a current ACME certificate). */
export function makeBenchCertificates(): BenchCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=bench-ca',
  );
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
  );
  return { dir, ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

/**
 * The nginx configuration: one worker (as the one broker process behind it), TLS 1.2+ with session tickets and a
 * session cache, HTTP/1.1 keep-alive connections to the broker (`keepalive` upstream), no buffering of answers.
 */
export function nginxConfig(dir: string, port: number, upstream: string, certs: BenchCertificates): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream sluice { server ${upstream}; keepalive 128; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${certs.cert};
    ssl_certificate_key ${certs.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://sluice;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
}

/** One POST over HTTPS trusting `ca`; resolves with status and body text. */
export function httpsPost(
  url: string,
  body: string,
  headers: Record<string, string>,
  ca: Buffer,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, ca, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts `nginx` terminating TLS on a free port in front of the plain broker at `upstreamUrl` (http://host:port). */
export async function startNginxTls(upstreamUrl: string, certs: BenchCertificates): Promise<HttpPeer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-nginx-'));
  const config = join(dir, 'nginx.conf');
  writeFileSync(config, nginxConfig(dir, port, new URL(upstreamUrl).host, certs));
  const httpUrl = `https://127.0.0.1:${port}`;
  const ca = readFileSync(certs.ca);
  const service = await startService({
    name: 'nginx',
    command: 'nginx',
    // -e: the error log before the configuration is read (the default, /var/log/nginx, is root's).
    args: ['-e', join(dir, 'error.log'), '-p', dir, '-c', config],
    probe: async () => {
      try {
        await httpsPost(`${httpUrl}/`, '["ping"]', {}, ca);
        return true;
      } catch {
        return false;
      }
    },
  });
  return { httpUrl, pid: service.child.pid ?? 0, stop: () => service.stop() };
}
