// TLS for the listener tests: a throw-away CA with server and client certificates made by openssl, more server
// certificates from the same CA (for reloads), and raw TLS connections that report the certificate and session they got.
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { TOKEN } from './broker.js';
import { EC_KEY_ARGS, makeCertificates, opensslIn, type TestCertificates, tempDir } from './topology.js';

/** A CA and certificates in a temp dir, with the files the broker reads under `live/`. */
export interface TlsFixture extends TestCertificates {
  readonly dir: string;
  /** The CA certificate's PEM (what clients trust). */
  readonly caPem: Buffer;
  /** The files given to the broker: SLUICE_TLS_CERT_FILE and SLUICE_TLS_KEY_FILE (in their own directory). */
  readonly liveCert: string;
  readonly liveKey: string;
  /** A new server certificate for 127.0.0.1/localhost from the same CA, with subject CN=`cn`; returns its files. */
  issue(cn: string): { cert: string; key: string };
  /** Replaces the live files as a deployment would: written aside, then renamed over them (key first). */
  install(files: { cert: string; key: string }): void;
  remove(): void;
}

/** Makes the CA and certificates (openssl, P-256) and installs the first server certificate as the live one. */
export function makeTlsFixture(): TlsFixture {
  const temp = tempDir('sluice-tls-listener-');
  const certs = makeCertificates(temp.path);
  const dir = temp.path;
  const live = join(dir, 'live');
  mkdirSync(live);
  const liveCert = join(live, 'server.crt');
  const liveKey = join(live, 'server.key');
  copyFileSync(certs.serverCert, liveCert);
  copyFileSync(certs.serverKey, liveKey);
  const openssl = opensslIn(dir);
  return {
    ...certs,
    dir,
    caPem: readFileSync(certs.ca),
    liveCert,
    liveKey,
    issue(cn) {
      const key = join(dir, `${cn}.key`);
      const csr = join(dir, `${cn}.csr`);
      const cert = join(dir, `${cn}.crt`);
      openssl('req', ...EC_KEY_ARGS, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`);
      openssl(
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certs.ca,
        '-CAkey',
        join(dir, 'ca.key'),
        '-CAcreateserial',
        '-out',
        cert,
        '-days',
        '2',
        '-extfile',
        join(dir, 'server.ext'),
      );
      return { cert, key };
    },
    install(files) {
      for (const [from, to] of [
        [files.key, liveKey],
        [files.cert, liveCert],
      ] as const) {
        writeFileSync(`${to}.new`, readFileSync(from));
        renameSync(`${to}.new`, to);
      }
    },
    remove: () => temp.remove(),
  };
}

/** `https://host:port` → host and port. */
function addressOf(url: string): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

/** Opens a TLS connection to the broker; resolves once the handshake is done, rejects on a failed one. */
export function tlsConnect(url: string, options: ConnectionOptions = {}): Promise<TLSSocket> {
  const { host, port } = addressOf(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername: 'localhost', ...options });
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Opens a TLS connection, makes one request and waits for the session the server gives (a ticket: during the
 * handshake in TLS 1.2, after it in TLS 1.3), then closes it: what a client keeps to resume.
 */
export async function sessionOf(url: string, options: ConnectionOptions = {}): Promise<Buffer> {
  const { host, port } = addressOf(url);
  const socket = connect({ host, port, servername: 'localhost', ...options });
  socket.on('error', () => {});
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      socket.once('session', resolve);
      socket.once('error', reject);
      socket.once('secureConnect', () =>
        socket.write(`GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`),
      );
      setTimeout(() => reject(new Error('no session ticket within 5 s')), 5000).unref();
    });
  } finally {
    socket.destroy();
  }
}

/** Whether `text` holds `count` whole responses with a Content-Length. */
function holdsResponses(text: string, count: number): boolean {
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const split = text.indexOf('\r\n\r\n', offset);
    if (split === -1) return false;
    const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(offset, split));
    if (!length) return false;
    offset = split + 4 + Number(length[1]);
    if (text.length < offset) return false;
  }
  return true;
}

/** Sends bytes on an open TLS socket and resolves with the raw text of the `count` responses (heads and bodies). */
export function exchange(socket: TLSSocket, bytes: string, count = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (holdsResponses(text, count)) {
        socket.removeListener('data', onData);
        socket.removeListener('error', reject);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(bytes);
  });
}

/** A keep-alive `POST /` of `command` as raw bytes. */
export function commandBytes(command: readonly unknown[], token = TOKEN): string {
  const body = JSON.stringify(command);
  return `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** One HTTPS request through node:https (its own connection); resolves with status and parsed body. */
export function httpsCall(
  url: string,
  path: string,
  body: unknown,
  options: { ca: Buffer; cert?: Buffer; key?: Buffer; method?: string } = { ca: Buffer.alloc(0) },
): Promise<{ status: number; body: unknown; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url + path,
      {
        method: options.method ?? 'POST',
        ca: options.ca,
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
        headers: { Authorization: `Bearer ${TOKEN}` },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
