// The webhook process: an express 5 app on an HTTPS server (certificate hot-swapped with
// setSecureContext), the ops endpoints on a separate plain-HTTP port, and a graceful stop.
import type { Component } from '../shared/component.js';
import { settledWithin } from '../shared/timeout.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { loadKubeConfig, primeConnectionReuse, withConnectionReuse } from '../shared/kube-connection.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { startOpsServer, type OpsServer } from '../shared/ops-server.js';
import { ensureOptionsFor } from '../certs/config.js';
import type { AdmissionPolicy } from './admission.js';
import type { WebhookConfig } from './config.js';
import { validateWebhookConfig } from './config.js';
import { KubeEventRecorder } from './events.js';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.js';
import { DirectNodeStatus, WatchedNodeStatus, type NodeStatusSource } from './node-status.js';
import { KubePodTolerator } from './pod-toleration.js';
import { createAdmissionRoute, sendStatus, type AdmissionRecord } from './http-admission.js';
import {
  BuiltinCertificateSource,
  FileCertificateSource,
  type CertificateSource,
  type ServingCertificate,
} from './tls-source.js';

export interface WebhookDeps {
  /** Defaults to KubeConfig.loadFromDefault() (KUBECONFIG, else in-cluster). */
  kubeConfig?: KubeConfig;
  logger?: Logger;
  registry?: Registry;
  /** Called after every answered review (outcome, time, time waiting on the API). */
  onAdmission?: (record: AdmissionRecord) => void;
}

export interface RunningWebhook extends Component {
  /** https://host:port of the admission server. */
  url: string;
  /** url + the admission path. */
  admissionUrl: string;
  /** http://host:port of /healthz, /readyz, /metrics. */
  opsUrl: string;
  port: number;
  registry: Registry;
  metrics: WebhookMetrics;
  /** The certificate being served to new connections. */
  certificate(): ServingCertificate;
  ready(): true | string;
  /** Graceful: stop accepting, finish in-flight requests (up to shutdownGraceMs), then close everything. */
  stop(): Promise<void>;
}

/**
 * TLS 1.3 by default (its suites are all AEAD with forward secrecy); TLS 1.2 only with ECDHE key
 * exchange and an AEAD cipher. No CBC suites (padding oracles, Lucky13) and no RSA key exchange (no
 * forward secrecy). The Kubernetes API server's Go client offers these in either version.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
const TLS_OPTIONS = { minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS, honorCipherOrder: true } as const;

/** The answer a connection is writing now (the API server does not pipeline requests). */
const ANSWER = Symbol('answer');
type AnsweringSocket = Socket & { [ANSWER]?: ServerResponse | undefined };

/** After SIGTERM, how long idle keep-alive connections stay open to be closed after their next answer. */
export const IDLE_DRAIN_MS = 2000;

function certificateSourceFor(
  config: WebhookConfig,
  kubeConfig: KubeConfig,
  logger: Logger,
  metrics: WebhookMetrics,
): CertificateSource {
  const hooks = {
    logger,
    onLoad: (result: 'loaded' | 'unchanged' | 'error') => metrics.certificateReloads.inc({ result }),
  };
  const tls = config.tls;
  switch (tls.mode) {
    case 'external':
      return new FileCertificateSource(tls.certFile, tls.keyFile, tls.pollIntervalMs, hooks);
    case 'builtin':
      return new BuiltinCertificateSource(ensureOptionsFor(tls, kubeConfig), tls.checkIntervalMs, hooks);
    case 'static':
      return tls.source;
  }
}

export async function startWebhook(config: WebhookConfig, deps: WebhookDeps = {}): Promise<RunningWebhook> {
  validateWebhookConfig(config);
  const logger = deps.logger ?? createLogger('webhook');
  const registry = deps.registry ?? new Registry();
  const metrics = createWebhookMetrics(registry);
  // Every transition reads and patches a pod while the API server waits: over kept-alive connections,
  // not a TLS handshake each (bench/webhook.ts measures the difference).
  const kubeConfig = withConnectionReuse(deps.kubeConfig ?? loadKubeConfig());
  await primeConnectionReuse(kubeConfig).catch((err: unknown) =>
    logger.warn({ err }, 'could not prepare the Kubernetes connection pool; it is built on first use'),
  );

  let stopping = false;
  let certificate: ServingCertificate | undefined;
  let nodes: NodeStatusSource | undefined;
  let ops: OpsServer | undefined;
  let certSource: CertificateSource | undefined;

  const cleanup = async () => {
    await certSource?.stop().catch(() => {});
    await nodes?.stop().catch(() => {});
    await ops?.close().catch(() => {});
  };

  try {
    if (config.fence) {
      if (config.nodeStatusSource === 'watch') {
        const watched = new WatchedNodeStatus(kubeConfig, {
          logger,
          onRestart: (reason) => metrics.nodeWatchRestarts.inc({ reason }),
          onFencedCount: (count) => metrics.fencedNodes.set(count),
        });
        watched.start();
        nodes = watched;
      } else {
        nodes = new DirectNodeStatus(kubeConfig);
      }
    }

    const readiness = () => {
      if (stopping) return 'shutting down';
      if (!certificate) return 'no serving certificate loaded';
      const n = nodes?.ready() ?? true;
      return n;
    };
    ops = await startOpsServer({
      listen: config.opsListen,
      registry,
      readiness: [
        { name: 'webhook', check: () => (stopping ? 'shutting down' : true) },
        { name: 'certificate', check: () => (certificate ? true : 'no serving certificate loaded') },
        { name: 'node-status', check: () => nodes?.ready() ?? true },
      ],
    });

    certSource = certificateSourceFor(config, kubeConfig, logger, metrics);
    // Created once the first certificate is in hand; a certificate arriving before then is used at creation.
    // eslint-disable-next-line prefer-const
    let server: https.Server | undefined;
    const install = (next: ServingCertificate) => {
      certificate = next;
      metrics.certificateNotAfter.set(next.notAfter / 1000);
      // New connections get the new certificate; established ones keep theirs until they close.
      server?.setSecureContext({ ...TLS_OPTIONS, cert: next.certPem, key: next.keyPem });
    };
    install(await certSource.start(install));

    const events = new KubeEventRecorder(kubeConfig, logger, () => metrics.eventErrors.inc());
    const tolerator = new KubePodTolerator(kubeConfig, nodes, {
      fence: config.fence,
      karpenterDoNotDisrupt: config.karpenterDoNotDisrupt,
      budgetMs: config.podPatchTimeoutMs,
    });
    const policy: AdmissionPolicy = {
      protectedStates: new Set(config.protectedStates),
      onPodPatchFailure: config.onPodPatchFailure,
    };
    const deps2 = { tolerator, events, metrics, logger };

    const admission = createAdmissionRoute({
      maxRequestBytes: config.maxRequestBytes,
      policy,
      deps: deps2,
      metrics,
      logger,
      ...(deps.onAdmission ? { onAdmission: deps.onAdmission } : {}),
    });

    // express serves everything but the hot admission route (see http-admission.ts).
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.set('query parser', false);
    // Match exactly what dispatch matches: /Mutate or /mutate/ are other paths.
    app.set('case sensitive routing', true);
    app.set('strict routing', true);
    app.all(config.path, (_req: Request, res: Response) =>
      sendStatus(res, 405, `use POST on ${config.path}`, { allow: 'POST' }),
    );
    app.use((req: Request, res: Response) =>
      sendStatus(res, 404, `no such path: ${req.path}; the webhook serves POST ${config.path}`),
    );
    app.use((err: { message?: string }, _req: Request, res: Response, _next: NextFunction) => {
      logger.error({ err: err.message }, 'webhook request failed');
      metrics.decisions.inc({ decision: 'error', reason: 'internal-error' });
      sendStatus(res, 500, 'internal error');
    });
    const dispatch = (req: IncomingMessage, res: ServerResponse) => {
      // The API server calls <path>?timeout=10s: compare the path only.
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if (req.method === 'POST' && (q === -1 ? url : url.slice(0, q)) === config.path) admission(req, res);
      else app(req, res);
    };

    server = https.createServer(
      {
        ...TLS_OPTIONS,
        cert: certificate!.certPem,
        key: certificate!.keyPem,
        // A connection that never finishes its handshake is not the API server: it holds a slot.
        handshakeTimeout: config.requestTimeoutMs,
        // Node checks the header and request timeouts only this often (30 s by default).
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.requestTimeoutMs / 4))),
      },
      dispatch,
    );
    // Whatever callers do, the webhook holds at most maxConnections bodies of maxRequestBytes: a slow
    // or stalled upload is cut after requestTimeoutMs (headers and body), and connections beyond the
    // cap are closed as they arrive (counted). The API server sends a review at once over a kept-alive
    // connection, so none of this touches it.
    server.maxConnections = config.maxConnections;
    server.headersTimeout = config.requestTimeoutMs;
    server.requestTimeout = config.requestTimeoutMs;
    // The idle timeout stays long on purpose: it must outlast the API server's own (90 s), or a review
    // written onto a connection just as we close it fails without a retry (Go does not retry a POST it
    // has started to write). An idle connection costs a few KB and counts against maxConnections.
    server.keepAliveTimeout = 120_000;
    server.on('drop', () => metrics.connectionsRefused.inc());

    // Requests in flight, and on each connection the answer being written, so that stop() can make
    // those answers close their connections. Not a collection of responses: responses added to and
    // deleted from a Set (or Map) thousands of times a second outlived their requests there, got
    // promoted, and made every young-generation GC pause several times longer (bench/webhook.ts's p99).
    let inFlight = 0;
    let drained: (() => void) | undefined;
    const connections = new Set<AnsweringSocket>();
    server.on('secureConnection', (socket: AnsweringSocket) => {
      connections.add(socket);
      metrics.connections.set(connections.size);
      socket.once('close', () => {
        connections.delete(socket);
        metrics.connections.set(connections.size);
      });
    });
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      inFlight++;
      const socket = res.socket as AnsweringSocket;
      socket[ANSWER] = res;
      if (stopping) res.setHeader('connection', 'close');
      res.on('close', () => {
        inFlight--;
        if (socket[ANSWER] === res) socket[ANSWER] = undefined;
        if (inFlight === 0) drained?.();
      });
    });
    server.on('tlsClientError', (err: Error, socket: Socket) => {
      logger.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
    });

    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(config.listen.port, config.listen.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host =
      config.listen.host === '0.0.0.0' || config.listen.host === '::' ? '127.0.0.1' : config.listen.host;
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.info(
      {
        url,
        path: config.path,
        ops: ops.url,
        tls: config.tls.mode,
        fence: config.fence,
        karpenterDoNotDisrupt: config.karpenterDoNotDisrupt,
        maxConnections: config.maxConnections,
        maxRequestBytes: config.maxRequestBytes,
        requestTimeoutMs: config.requestTimeoutMs,
      },
      'webhook serving',
    );

    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= (async () => {
        stopping = true;
        const graceEnds = Date.now() + config.shutdownGraceMs;
        logger.info(
          { inFlight, graceMs: config.shutdownGraceMs },
          'webhook stopping: finishing requests in flight',
        );
        // Answers still to be written close their connection.
        for (const socket of connections) {
          const res = socket[ANSWER];
          if (res && !res.headersSent) res.setHeader('connection', 'close');
        }
        // Stop listening, but not the way http.Server.close() does it: that also closes idle keep-alive
        // connections at once, and the API server may be writing a request onto one of them at that very
        // moment. Such a POST fails without being retried (Go retries only requests it has not started
        // to write), and with failurePolicy Fail that is a failed allocation.
        const closed = new Promise<void>((resolve) =>
          tls.Server.prototype.close.call(server!, () => resolve()),
        );
        // Lame duck: for a moment each connection is closed right after its next answer (Connection:
        // close), which the client reads before it sends anything more on it. Those still idle after it
        // are closed: client pools hand out the most recently used connection first (Go's and Node's),
        // so one unused for that long is the least likely to be picked as it closes.
        await settledWithin(closed, Math.min(IDLE_DRAIN_MS, config.shutdownGraceMs));
        server!.closeIdleConnections();
        if (inFlight > 0) {
          await settledWithin(
            new Promise<void>((resolve) => (drained = resolve)),
            Math.max(0, graceEnds - Date.now()),
          );
        }
        server!.closeAllConnections();
        await closed;
        // Clears what http.Server.close() would have (its connection-timeout checker); no longer listening.
        server!.close();
        // Events still being sent get what is left of the grace period (at most 2 s).
        await events.flush(Math.max(0, Math.min(2000, graceEnds - Date.now())));
        await cleanup();
        logger.info('webhook stopped');
      })());

    return {
      url,
      admissionUrl: url + config.path,
      opsUrl: ops.url,
      port,
      registry,
      metrics,
      certificate: () => certificate!,
      ready: () => readiness(),
      stop,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
