// The webhook's settings: typed, with defaults, validated with errors naming the setting.
import type { CertificateSettings } from '../certs/config.js';
import { CERTIFICATE_SETTINGS, validateCertificatePolicy } from '../certs/config.js';
import { formatDuration } from '../shared/duration.js';
import { ConfigError } from '../shared/ops-server.js';
import { type SettingsTable } from '../shared/settings.js';
import { DEFAULT_PROTECT_RESERVED, protectedStates as protectedStatesFor } from '../shared/drain-contract.js';
import type { ProtectedState } from '../shared/drain-contract.js';
import type { StaticCertificateSource } from './tls-source.js';

export type TlsConfig =
  /** cert-manager or any mounted files; never touches the Secret or caBundle. */
  | { mode: 'external'; certFile: string; keyFile: string; pollIntervalMs: number }
  /** certs/ensure.ts manages a Secret and the caBundle, at start and every checkIntervalMs. */
  | ({ mode: 'builtin'; checkIntervalMs: number } & CertificateSettings)
  /** In-process embedding and tests: a certificate handed over directly. */
  | { mode: 'static'; source: StaticCertificateSource };

export interface WebhookConfig {
  listen: { host: string; port: number };
  /** Plain-HTTP /healthz, /readyz, /metrics. */
  opsListen: { host: string; port: number };
  /** Path of the mutating endpoint. */
  path: string;
  protectedStates: ProtectedState[];
  /** Deny allocations of game servers whose pod is terminating or whose node is draining. */
  fence: boolean;
  /** Also mark the pod `karpenter.sh/do-not-disrupt: "true"` when it is protected. */
  karpenterDoNotDisrupt: boolean;
  nodeStatusSource: 'watch' | 'get';
  /** Budget for reading and patching the pod (retry included); must fit in the webhook's timeoutSeconds. */
  podPatchTimeoutMs: number;
  onPodPatchFailure: 'allow' | 'deny';
  /** After SIGTERM: time for in-flight requests before connections are cut. */
  shutdownGraceMs: number;
  /** Largest accepted request body; a larger one is answered 413. */
  maxRequestBytes: number;
  /** Connections to the admission port open at once; more are closed as they arrive. */
  maxConnections: number;
  /** Time for a connection's TLS handshake, and for each request's headers and body, to arrive. */
  requestTimeoutMs: number;
  tls: TlsConfig;
}

/**
 * What a GameServer AdmissionReview really weighs: object and oldObject of a fleet replica as Agones
 * stores it (labels, annotations, managedFields, the pod template) come to about 5 KB together; a
 * GameServer with a large pod template (sidecars, volumes, dozens of env vars) and long managedFields
 * stays under 30 KB each. 256 KiB leaves a margin of four on the largest, and caps what a caller can
 * make the webhook hold: at most --max-connections bodies of this size. (etcd would store objects up to
 * 1.5 MiB; anyone with such GameServers raises --max-request-bytes.)
 */
export const DEFAULT_MAX_REQUEST_BYTES = 256 * 1024;
/** Far above what the API servers open (a few kept-alive connections each), far below what exhausts memory. */
export const DEFAULT_MAX_CONNECTIONS = 64;
/** The API server sends a review in one go over a kept-alive connection: anything slower is not it. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** The webhook's settings (flags and variables), its certificate settings included. */
export const WEBHOOK_SETTINGS: SettingsTable = [
  {
    flag: '--listen',
    env: 'WEBHOOK_LISTEN',
    default: ':8443',
    value: '<host:port>',
    help: 'HTTPS address of the admission endpoint',
  },
  {
    flag: '--ops-listen',
    env: 'OPS_LISTEN',
    default: ':8080',
    value: '<host:port>',
    help: 'plain-HTTP address of /healthz, /readyz, /metrics',
  },
  {
    flag: '--path',
    env: 'WEBHOOK_PATH',
    default: '/mutate',
    value: '<path>',
    help: 'URL path of the admission endpoint',
  },
  {
    flag: '--protect-reserved',
    env: 'WEBHOOK_PROTECT_RESERVED',
    default: String(DEFAULT_PROTECT_RESERVED),
    boolean: true,
    help: 'also protect game servers becoming Reserved (as the reconciler counts them as sessions)',
  },
  {
    flag: '--fence',
    env: 'WEBHOOK_FENCE',
    default: 'true',
    boolean: true,
    negatable: true,
    help: 'refuse allocations whose pod is terminating or whose node drains (DRAINING/SPOT_TERMINATING, a drain phase, or cordoned by the old adapter: its gamelift.status/active taint)',
  },
  {
    flag: '--karpenter-do-not-disrupt',
    env: 'WEBHOOK_KARPENTER_DO_NOT_DISRUPT',
    default: 'true',
    boolean: true,
    negatable: true,
    help: 'also annotate protected pods karpenter.sh/do-not-disrupt: "true" (ignored where Karpenter is not installed)',
  },
  {
    flag: '--node-status-source',
    env: 'WEBHOOK_NODE_STATUS_SOURCE',
    default: 'watch',
    value: '<watch|get>',
    help: 'how the fence reads node status: watch (cached) or get (per allocation)',
  },
  {
    flag: '--pod-patch-timeout',
    env: 'WEBHOOK_POD_PATCH_TIMEOUT',
    default: '2s',
    value: '<duration>',
    help: 'budget for updating the pod; keep it below the webhook timeoutSeconds',
  },
  {
    flag: '--on-pod-patch-failure',
    env: 'WEBHOOK_ON_POD_PATCH_FAILURE',
    default: 'allow',
    value: '<allow|deny>',
    help: 'when the pod cannot be updated: allow with a warning, or deny',
  },
  {
    flag: '--shutdown-grace',
    env: 'WEBHOOK_SHUTDOWN_GRACE',
    default: '25s',
    value: '<duration>',
    help: 'after SIGTERM, time to finish requests in flight',
  },
  {
    flag: '--max-request-bytes',
    env: 'WEBHOOK_MAX_REQUEST_BYTES',
    default: String(DEFAULT_MAX_REQUEST_BYTES),
    value: '<bytes>',
    help: 'largest AdmissionReview accepted (413 above it); real GameServer reviews weigh a few KB',
  },
  {
    flag: '--max-connections',
    env: 'WEBHOOK_MAX_CONNECTIONS',
    default: String(DEFAULT_MAX_CONNECTIONS),
    value: '<n>',
    help: 'connections open at once; more are closed as they arrive',
  },
  {
    flag: '--request-timeout',
    env: 'WEBHOOK_REQUEST_TIMEOUT',
    default: formatDuration(DEFAULT_REQUEST_TIMEOUT_MS),
    value: '<duration>',
    help: "time for a connection's TLS handshake, and for each request's headers and body, to arrive",
  },
  {
    flag: '--cert-management',
    env: 'WEBHOOK_CERT_MANAGEMENT',
    default: 'builtin',
    value: '<builtin|external>',
    help: 'builtin (Secret + caBundle managed here) or external (files, e.g. cert-manager)',
  },
  {
    flag: '--tls-cert-file',
    env: 'TLS_CERT_FILE',
    value: '<path>',
    help: 'serving certificate (external mode; reloaded on change)',
  },
  {
    flag: '--tls-key-file',
    env: 'TLS_KEY_FILE',
    value: '<path>',
    help: 'serving key (external mode; reloaded on change)',
  },
  {
    flag: '--cert-check-interval',
    env: 'WEBHOOK_CERT_CHECK_INTERVAL',
    default: '1m',
    value: '<duration>',
    help: 'builtin: how often to converge/rotate and re-read the Secret; external: file poll interval',
  },
  ...CERTIFICATE_SETTINGS,
];

export const WEBHOOK_DEFAULTS: Omit<WebhookConfig, 'tls'> = {
  listen: { host: '0.0.0.0', port: 8443 },
  opsListen: { host: '0.0.0.0', port: 8080 },
  path: '/mutate',
  // The same default as the reconciler's PROTECT_RESERVED, in process as on the command line.
  protectedStates: protectedStatesFor(DEFAULT_PROTECT_RESERVED),
  fence: true,
  karpenterDoNotDisrupt: true,
  nodeStatusSource: 'watch',
  podPatchTimeoutMs: 2000,
  onPodPatchFailure: 'allow',
  shutdownGraceMs: 25_000,
  maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
};

/** A full configuration from the defaults and the given parts (validated). */
export function webhookConfig(
  tls: TlsConfig,
  overrides: Partial<Omit<WebhookConfig, 'tls'>> = {},
): WebhookConfig {
  const config = { ...WEBHOOK_DEFAULTS, ...overrides, tls };
  validateWebhookConfig(config);
  return config;
}

/**
 * Kubernetes caps a webhook's timeoutSeconds at 30 (default 10); the pod-patch budget has to leave
 * room for the rest of the request, so it is capped well below.
 */
export const MAX_POD_PATCH_TIMEOUT_MS = 25_000;

export function validateWebhookConfig(c: WebhookConfig): void {
  if (!c.path.startsWith('/') || /[?#\s]/.test(c.path)) {
    throw new ConfigError(
      '--path (WEBHOOK_PATH)',
      `expected an absolute URL path like /mutate, got "${c.path}"`,
    );
  }
  if (
    c.protectedStates.length === 0 ||
    c.protectedStates.some((s) => s !== 'Allocated' && s !== 'Reserved')
  ) {
    throw new ConfigError('protectedStates', 'expected Allocated, optionally with Reserved');
  }
  if (!c.protectedStates.includes('Allocated'))
    throw new ConfigError('protectedStates', 'Allocated must be protected');
  if (c.nodeStatusSource !== 'watch' && c.nodeStatusSource !== 'get') {
    throw new ConfigError(
      '--node-status-source (WEBHOOK_NODE_STATUS_SOURCE)',
      `expected watch or get, got "${c.nodeStatusSource}"`,
    );
  }
  if (!(c.podPatchTimeoutMs >= 50 && c.podPatchTimeoutMs <= MAX_POD_PATCH_TIMEOUT_MS)) {
    throw new ConfigError(
      '--pod-patch-timeout (WEBHOOK_POD_PATCH_TIMEOUT)',
      `must be between 50ms and 25s (it must fit in the webhook's timeoutSeconds), got ${c.podPatchTimeoutMs} ms`,
    );
  }
  if (c.onPodPatchFailure !== 'allow' && c.onPodPatchFailure !== 'deny') {
    throw new ConfigError(
      '--on-pod-patch-failure (WEBHOOK_ON_POD_PATCH_FAILURE)',
      `expected allow or deny, got "${c.onPodPatchFailure}"`,
    );
  }
  if (!(c.shutdownGraceMs >= 0 && c.shutdownGraceMs <= 10 * 60_000)) {
    throw new ConfigError('--shutdown-grace (WEBHOOK_SHUTDOWN_GRACE)', 'must be between 0s and 10m');
  }
  if (!(
    Number.isSafeInteger(c.maxRequestBytes) &&
    c.maxRequestBytes >= 16 * 1024 &&
    c.maxRequestBytes <= 64 * 1024 * 1024
  ))
    throw new ConfigError(
      '--max-request-bytes (WEBHOOK_MAX_REQUEST_BYTES)',
      `must be a number of bytes between 16384 and 67108864, got ${c.maxRequestBytes}`,
    );
  if (!(Number.isSafeInteger(c.maxConnections) && c.maxConnections >= 1 && c.maxConnections <= 100_000))
    throw new ConfigError(
      '--max-connections (WEBHOOK_MAX_CONNECTIONS)',
      `must be a whole number between 1 and 100000, got ${c.maxConnections}`,
    );
  if (!(c.requestTimeoutMs >= 100 && c.requestTimeoutMs <= 60_000))
    throw new ConfigError('--request-timeout (WEBHOOK_REQUEST_TIMEOUT)', 'must be between 100ms and 1m');
  if (c.listen.port !== 0 && c.listen.port === c.opsListen.port && c.listen.host === c.opsListen.host) {
    throw new ConfigError('--ops-listen (OPS_LISTEN)', 'must differ from --listen');
  }
  const tls = c.tls;
  if (tls.mode === 'external') {
    if (!tls.certFile)
      throw new ConfigError('--tls-cert-file (TLS_CERT_FILE)', 'required with --cert-management=external');
    if (!tls.keyFile)
      throw new ConfigError('--tls-key-file (TLS_KEY_FILE)', 'required with --cert-management=external');
    if (!(tls.pollIntervalMs >= 100))
      throw new ConfigError('--cert-check-interval (WEBHOOK_CERT_CHECK_INTERVAL)', 'must be at least 100ms');
  } else if (tls.mode === 'builtin') {
    validateCertificatePolicy(tls.policy);
    if (!(tls.checkIntervalMs >= 1000))
      throw new ConfigError('--cert-check-interval (WEBHOOK_CERT_CHECK_INTERVAL)', 'must be at least 1s');
    // Replicas pick up a re-issued certificate at their next check; the old CA must stay trusted longer.
    if (tls.policy.retireAfterMs <= 2 * tls.checkIntervalMs) {
      throw new ConfigError(
        '--ca-retire-after (CERT_CA_RETIRE_AFTER)',
        'must be more than twice --cert-check-interval',
      );
    }
  }
}
