// Where the serving certificate comes from, and how a new one reaches the running server without a
// restart: files (cert-manager or any mounted Secret; watched, with a poll as a safety net) or the
// built-in management (certs/ensure.ts run at start and then periodically, which also rotates).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../shared/logger.js';
import { ensureCertificates, type EnsureCertificatesOptions } from '../certs/ensure.js';
import { describeCertificate, keyMatchesCertificate } from '../certs/issue.js';

export interface ServingCertificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 fingerprint of the (first) certificate. */
  fingerprint: string;
  notAfter: number;
  /** The CA bundle clients should trust, when the source knows it. */
  caBundlePem?: string;
}

export interface CertificateSource {
  /** Loads the first certificate (rejects if there is none usable), then reports every new one. */
  start(onChange: (certificate: ServingCertificate) => void): Promise<ServingCertificate>;
  stop(): Promise<void>;
}

export interface SourceHooks {
  logger: Logger;
  /** Called after every load attempt, for a metric. */
  onLoad?: (result: 'loaded' | 'unchanged' | 'error') => void;
}

/** Checks a certificate/key pair and describes it; throws a message naming what is wrong. */
export function servingCertificateFrom(
  certPem: string,
  keyPem: string,
  caBundlePem?: string,
): ServingCertificate {
  let info;
  try {
    info = describeCertificate(certPem);
  } catch (err) {
    throw new Error(`not a PEM certificate: ${(err as Error).message}`);
  }
  if (!keyMatchesCertificate(certPem, keyPem))
    throw new Error('the private key does not match the certificate');
  return {
    certPem,
    keyPem,
    fingerprint: info.fingerprint,
    notAfter: info.notAfter,
    ...(caBundlePem ? { caBundlePem } : {}),
  };
}

/**
 * Installs a freshly read certificate unless it is the one already served (same certificate and key),
 * reporting either way; returns what is served now.
 */
function adopt(
  current: ServingCertificate | undefined,
  next: ServingCertificate,
  hooks: SourceHooks,
  from: string,
  onChange: (certificate: ServingCertificate) => void,
): ServingCertificate {
  if (next.fingerprint === current?.fingerprint && next.keyPem === current.keyPem) {
    hooks.onLoad?.('unchanged');
    return current;
  }
  hooks.onLoad?.('loaded');
  hooks.logger.info(
    { fingerprint: next.fingerprint, notAfter: new Date(next.notAfter).toISOString() },
    `serving certificate reloaded from ${from}`,
  );
  onChange(next);
  return next;
}

/** A fixed certificate that can be replaced by hand (tests, embedding). */
export class StaticCertificateSource implements CertificateSource {
  private onChange: ((c: ServingCertificate) => void) | undefined;
  constructor(private current: ServingCertificate) {}
  async start(onChange: (c: ServingCertificate) => void): Promise<ServingCertificate> {
    this.onChange = onChange;
    return this.current;
  }
  set(certificate: ServingCertificate): void {
    this.current = certificate;
    this.onChange?.(certificate);
  }
  async stop(): Promise<void> {
    this.onChange = undefined;
  }
}

/**
 * Certificate and key files, reloaded when they change. Kubernetes updates a mounted Secret by
 * swapping a symlink in the mount directory, so the directories are watched, not the files; a poll
 * catches what a watch can miss (some filesystems, editors that replace files). A half-written
 * update (new certificate, old key) is ignored until the pair matches again.
 */
export class FileCertificateSource implements CertificateSource {
  private watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private current: ServingCertificate | undefined;
  private stopped = false;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private readonly pollIntervalMs: number,
    private readonly hooks: SourceHooks,
  ) {}

  private async load(): Promise<ServingCertificate> {
    // Both files named whichever read fails first (both fail when the directory is missing).
    const read = (path: string) =>
      readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new Error(
          `cannot read the serving certificate (${this.certFile}, ${this.keyFile}): ${path}: ${err.code ?? err.message}`,
        );
      });
    const [certPem, keyPem] = await Promise.all([read(this.certFile), read(this.keyFile)]);
    try {
      return servingCertificateFrom(certPem, keyPem);
    } catch (err) {
      throw new Error(`${this.certFile} / ${this.keyFile}: ${(err as Error).message}`);
    }
  }

  async start(onChange: (c: ServingCertificate) => void): Promise<ServingCertificate> {
    this.current = await this.load();
    this.hooks.onLoad?.('loaded');
    const reload = async () => {
      if (this.stopped) return;
      try {
        const next = await this.load();
        if (this.stopped) return;
        this.current = adopt(this.current, next, this.hooks, 'files', onChange);
      } catch (err) {
        this.hooks.onLoad?.('error');
        this.hooks.logger.warn(
          { err: (err as Error).message },
          'serving certificate files not loadable (yet): keeping the current one',
        );
      }
    };
    const schedule = () => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void reload(), 50);
    };
    for (const dir of new Set([dirname(this.certFile), dirname(this.keyFile)])) {
      try {
        const w = watch(dir, { persistent: false }, schedule);
        w.on('error', (err) =>
          this.hooks.logger.warn(
            { dir, err: err.message },
            'watching certificate directory failed; polling only',
          ),
        );
        this.watchers.push(w);
      } catch (err) {
        this.hooks.logger.warn(
          { dir, err: (err as Error).message },
          'cannot watch certificate directory; polling only',
        );
      }
    }
    this.poll = setInterval(() => void reload(), this.pollIntervalMs);
    this.poll.unref();
    return this.current;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }
}

/**
 * Built-in management: the certificates live in a Secret that every replica converges (and rotates)
 * with ensureCertificates, at start and every `intervalMs`; a new serving certificate written by any
 * replica is picked up at the next tick.
 */
export class BuiltinCertificateSource implements CertificateSource {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private current: ServingCertificate | undefined;
  private stopped = false;

  constructor(
    private readonly ensure: EnsureCertificatesOptions,
    private readonly intervalMs: number,
    private readonly hooks: SourceHooks,
  ) {}

  private async once(): Promise<ServingCertificate> {
    const result = await ensureCertificates({ ...this.ensure, logger: this.hooks.logger });
    return servingCertificateFrom(result.servingCertPem, result.servingKeyPem, result.caBundlePem);
  }

  async start(onChange: (c: ServingCertificate) => void): Promise<ServingCertificate> {
    this.current = await this.once();
    this.hooks.onLoad?.('loaded');
    const tick = async () => {
      try {
        const next = await this.once();
        if (this.stopped) return;
        this.current = adopt(this.current, next, this.hooks, 'the Secret', onChange);
      } catch (err) {
        this.hooks.onLoad?.('error');
        this.hooks.logger.warn(
          { err: (err as Error).message },
          'certificate check failed: keeping the current certificate',
        );
      }
    };
    this.timer = setInterval(() => {
      if (!this.running) this.running = tick().finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
    return this.current;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
