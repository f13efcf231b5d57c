// The main listener's certificate: read and checked at start-up, reloaded when its files change or on SIGHUP; a bad
// new one keeps the old one and says why.
import { createHash, createPrivateKey, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

/** The PEM files of the main listener (SLUICE_TLS_CERT_FILE, SLUICE_TLS_KEY_FILE, SLUICE_TLS_CLIENT_CA_FILE). */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string | undefined;
}

/** The TLS files the configuration names, or undefined when the main listener speaks plain HTTP. */
export function tlsFilesOf(config: Config): TlsFiles | undefined {
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) return undefined;
  return { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.tlsClientCaFile };
}

/** Bytes of a session ticket key set as node:tls takes it (name, AES key, HMAC key). */
export const TICKET_KEYS_BYTES = 48;

/** A fresh set of session ticket keys (one per process; the primary makes one for all its workers). */
export function newTicketKeys(): Buffer {
  return randomBytes(TICKET_KEYS_BYTES);
}

/** A certificate, its key and client CAs as read and checked, with what the logs and metrics say of it. */
export interface TlsCertificate {
  /** What the server (and setSecureContext on reload) takes. */
  readonly context: SecureContextOptions;
  readonly subject: string;
  readonly serial: string;
  readonly notAfter: Date;
  /** SHA-256 of the bytes of all files: a reload that reads the same bytes changes nothing. */
  readonly fingerprint: string;
}

function readPem(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read ${setting} ${file}: ${(error as Error).message}`);
  }
}

function parseCertificate(setting: string, file: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${setting} ${file} holds no PEM certificate (${(error as Error).message})`);
  }
}

function parseKey(file: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new Error(
      `SLUICE_TLS_KEY_FILE ${file} holds no unencrypted PEM private key (${(error as Error).message})`,
    );
  }
}

/**
 * Reads the files and checks that they make a TLS context: a certificate, the private key of that certificate, and
 * (for mTLS) CA certificates. Throws an Error naming the setting and file at fault. `ticketKeys` encrypt the session
 * tickets; kept across reloads so sessions issued before one still resume after it.
 */
export function readTlsCertificate(files: TlsFiles, ticketKeys: Buffer): TlsCertificate {
  const cert = readPem('SLUICE_TLS_CERT_FILE', files.certFile);
  const key = readPem('SLUICE_TLS_KEY_FILE', files.keyFile);
  const ca = files.clientCaFile ? readPem('SLUICE_TLS_CLIENT_CA_FILE', files.clientCaFile) : undefined;
  const leaf = parseCertificate('SLUICE_TLS_CERT_FILE', files.certFile, cert);
  if (!leaf.checkPrivateKey(parseKey(files.keyFile, key))) {
    throw new Error(
      `SLUICE_TLS_KEY_FILE ${files.keyFile} is not the private key of the certificate in SLUICE_TLS_CERT_FILE ${files.certFile}`,
    );
  }
  if (ca && files.clientCaFile) parseCertificate('SLUICE_TLS_CLIENT_CA_FILE', files.clientCaFile, ca);
  const fingerprint = createHash('sha256')
    .update(cert)
    .update('\0')
    .update(key)
    .update('\0')
    .update(ca ?? '')
    .digest('hex');
  const context: SecureContextOptions = {
    cert,
    key,
    ...(ca ? { ca } : {}),
    minVersion: 'TLSv1.2',
    ticketKeys,
    // Sessions resume only under the same client CAs: a session made when another CA was trusted does not.
    sessionIdContext: createHash('sha256')
      .update(ca ?? 'sluice')
      .digest('hex')
      .slice(0, 32),
  };
  try {
    createSecureContext(context);
  } catch (error) {
    throw new Error(
      `SLUICE_TLS_CERT_FILE ${files.certFile} and SLUICE_TLS_KEY_FILE ${files.keyFile} do not make a TLS context: ${(error as Error).message}`,
    );
  }
  return {
    context,
    subject: leaf.subject.replaceAll('\n', ', '),
    serial: leaf.serialNumber,
    notAfter: new Date(leaf.validTo),
    fingerprint,
  };
}

/** Reload outcomes since start. */
export interface TlsReloadCounts {
  /** New certificates taken. */
  applied: number;
  /** New files refused (unreadable, not PEM, key not matching): the previous certificate stayed. */
  rejected: number;
}

export interface TlsReloaderOptions {
  readonly files: TlsFiles;
  readonly ticketKeys: Buffer;
  /** The certificate the listener started with. */
  readonly initial: TlsCertificate;
  /** Gives new handshakes the new context (MainServer.setSecureContext). */
  readonly apply: (context: SecureContextOptions) => void;
  readonly logger: Logger;
  /** Quiet time after the last change in a watched directory before the files are read. Default 250 ms. */
  readonly debounceMs?: number;
}

/**
 * Keeps the listener's certificate current: `reload()` (on SIGHUP, or after the files' directories changed) reads the
 * files, and when their bytes differ from the current ones and make a valid context, gives new handshakes the new
 * context; open connections keep theirs. When they do not, the current certificate stays and the reason is logged
 * (and counted). The directories are watched rather than the files: a file replaced by a rename (an editor, certbot,
 * a Kubernetes secret's symlink swap) is a new file a watch on the old one would never see.
 */
export class TlsReloader {
  readonly counts: TlsReloadCounts = { applied: 0, rejected: 0 };
  #current: TlsCertificate;
  readonly #options: TlsReloaderOptions;
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: TlsReloaderOptions) {
    this.#options = options;
    this.#current = options.initial;
    if (options.initial.notAfter.getTime() <= Date.now()) this.#warnExpired(options.initial);
  }

  get current(): TlsCertificate {
    return this.#current;
  }

  /** Reads the files again and takes them if they changed and are valid; true when a new certificate was taken. */
  reload(cause: 'signal' | 'file_changed'): boolean {
    const { files, ticketKeys, logger } = this.#options;
    let next: TlsCertificate;
    try {
      next = readTlsCertificate(files, ticketKeys);
    } catch (error) {
      this.counts.rejected++;
      logger.error(
        { event: 'tls_reload_rejected', cause, reason: (error as Error).message },
        'new TLS certificate refused; the listener keeps the current one',
      );
      return false;
    }
    if (next.fingerprint === this.#current.fingerprint) {
      if (cause === 'signal')
        logger.info({ event: 'tls_reload_unchanged' }, 'TLS files unchanged; nothing to reload');
      return false;
    }
    try {
      this.#options.apply(next.context);
    } catch (error) {
      this.counts.rejected++;
      logger.error(
        { event: 'tls_reload_rejected', cause, reason: (error as Error).message },
        'new TLS certificate refused; the listener keeps the current one',
      );
      return false;
    }
    this.#current = next;
    this.counts.applied++;
    logger.info(
      {
        event: 'tls_reloaded',
        cause,
        subject: next.subject,
        serial: next.serial,
        notAfter: next.notAfter.toISOString(),
      },
      'new TLS certificate in use for new connections',
    );
    if (next.notAfter.getTime() <= Date.now()) this.#warnExpired(next);
    return true;
  }

  /** Watches the directories of the files; a change reloads after `debounceMs` of quiet. */
  watch(): void {
    const { files, logger } = this.#options;
    const dirs = new Set(
      [files.certFile, files.keyFile, files.clientCaFile]
        .filter((file): file is string => file !== undefined)
        .map((file) => dirname(resolve(file))),
    );
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.#changed());
        watcher.on('error', (error) =>
          logger.warn(
            { event: 'tls_watch_failed', dir, err: error },
            'stopped watching a TLS file directory; SIGHUP still reloads',
          ),
        );
        this.#watchers.push(watcher);
      } catch (error) {
        logger.warn(
          { event: 'tls_watch_failed', dir, err: error },
          'cannot watch a TLS file directory; reload with SIGHUP',
        );
      }
    }
  }

  /** Stops watching. */
  close(): void {
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers.splice(0)) watcher.close();
  }

  #changed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.reload('file_changed'), this.#options.debounceMs ?? 250);
    this.#timer.unref();
  }

  #warnExpired(certificate: TlsCertificate): void {
    this.#options.logger.warn(
      { event: 'tls_certificate_expired', subject: certificate.subject, notAfter: certificate.notAfter },
      'the TLS certificate has expired: clients will refuse it',
    );
  }
}
