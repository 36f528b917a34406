// The webhook survives its callers: what anything that can reach the admission port can do to it —
// stalled uploads, connection floods, oversized bodies, weak TLS — against the real HTTPS server on
// loopback, and against the compiled webhook process, whose memory must stay within the manifests'
// limit. Non-transition reviews need no API call, so the Kubernetes API here is an unreachable
// address: nothing in these tests may depend on it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { createCertificateAuthority, issueServingCertificate, type KeyPairPem } from '../../certs/issue.js';
import { createLogger } from '../../shared/logger.js';
import { webhookConfig } from '../../webhook/config.js';
import { startWebhook, type RunningWebhook } from '../../webhook/server.js';
import { httpsRequest } from './fixtures.js';
import { gameServerReview } from '../../sandbox/system/admission-review.js';
import { waitFor } from '../helpers/wait.js';
import { spawn } from 'node:child_process';
import { BUNDLES, buildAll, PRODUCTION_ENV, PRODUCTION_NODE_FLAGS } from '../../scripts/build.js';
import { freePort } from '../helpers/redis.js';
import { parseAllDocuments } from 'yaml';
import { readFileSync } from 'node:fs';

const DAY = 86_400_000;
const MAX_CONNECTIONS = 40;
const REQUEST_TIMEOUT_MS = 1000;

let ca: KeyPairPem;
let dir: string;
let webhook: RunningWebhook;

beforeAll(async () => {
  ca = await createCertificateAuthority({
    commonName: 'limits-ca',
    validityMs: DAY,
    keySize: 2048,
    now: new Date(),
  });
  dir = await mkdtemp(join(tmpdir(), 'webhook-limits-'));
  const serving = await issueServingCertificate(ca, {
    dnsNames: ['localhost'],
    validityMs: DAY,
    keySize: 2048,
    now: new Date(),
  });
  await writeFile(join(dir, 'tls.crt'), serving.certPem);
  await writeFile(join(dir, 'tls.key'), serving.keyPem);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'webhook', token: 'unused' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'webhook' }],
    currentContext: 'none',
  });
  webhook = await startWebhook(
    webhookConfig(
      {
        mode: 'external',
        certFile: join(dir, 'tls.crt'),
        keyFile: join(dir, 'tls.key'),
        pollIntervalMs: 60_000,
      },
      {
        listen: { host: '127.0.0.1', port: 0 },
        opsListen: { host: '127.0.0.1', port: 0 },
        nodeStatusSource: 'get',
        maxConnections: MAX_CONNECTIONS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
      },
    ),
    { kubeConfig: kc, logger: createLogger('limits-test', 'silent') },
  );
});

afterAll(async () => {
  await webhook?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A valid review answered: the webhook still serves the API server. */
async function answersValidReview(uid: string): Promise<void> {
  const answer = await httpsRequest(webhook.admissionUrl, {
    body: JSON.stringify(gameServerReview('Ready', 'Ready', { uid })),
    headers: { 'content-type': 'application/json' },
    ca: ca.certPem,
  });
  expect(answer.status).toBe(200);
  expect(answer.json.response).toEqual({ uid, allowed: true });
}

interface Client {
  socket: tls.TLSSocket;
  closed: Promise<void>;
  isClosed(): boolean;
  received(): string;
}

function tlsClient(options: tls.ConnectionOptions = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let received = '';
    const socket = tls.connect({
      host: '127.0.0.1',
      port: webhook.port,
      ca: ca.certPem,
      servername: 'localhost',
      ...options,
    });
    const closedP = new Promise<void>((r) => socket.once('close', () => ((closed = true), r())));
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.once('secureConnect', () =>
      resolve({ socket, closed: closedP, isClosed: () => closed, received: () => received }),
    );
    socket.once('error', (err) => reject(err));
  });
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${webhook.opsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('TLS', () => {
  it.each(['ECDHE-RSA-AES128-SHA', 'AES128-GCM-SHA256', 'AES128-SHA'])(
    'refuses TLS 1.2 with %s (CBC or no forward secrecy)',
    async (cipher) => {
      await expect(tlsClient({ maxVersion: 'TLSv1.2', ciphers: cipher })).rejects.toThrow();
    },
  );

  it('refuses TLS 1.1', async () => {
    await expect(
      tlsClient({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
    ).rejects.toThrow();
  });

  it('accepts TLS 1.2 with ECDHE and an AEAD cipher, and negotiates TLS 1.3 by default', async () => {
    const v12 = await tlsClient({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
    expect(v12.socket.getProtocol()).toBe('TLSv1.2');
    expect(v12.socket.getCipher().name).toBe('ECDHE-RSA-AES128-GCM-SHA256');
    v12.socket.destroy();
    const v12chacha = await tlsClient({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' });
    expect(v12chacha.socket.getCipher().name).toBe('ECDHE-RSA-CHACHA20-POLY1305');
    v12chacha.socket.destroy();
    const v13 = await tlsClient();
    expect(v13.socket.getProtocol()).toBe('TLSv1.3');
    v13.socket.destroy();
  });
});

describe('callers that hold connections', () => {
  it('cuts stalled uploads after the request timeout, answering valid reviews meanwhile', async () => {
    const stalled = await Promise.all(Array.from({ length: 30 }, () => tlsClient()));
    for (const c of stalled) {
      c.socket.write(
        'POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n' +
          'Content-Length: 200000\r\n\r\n{"apiVersion":',
      );
    }
    // A header that never ends is cut the same way.
    const slowHeaders = await tlsClient();
    slowHeaders.socket.write('POST /mutate HTTP/1.1\r\nHost: webhook\r\nX-Slow: a');

    await answersValidReview('during-stall');
    const started = Date.now();
    await waitFor('every stalled upload closed', () => stalled.every((c) => c.isClosed()), 10_000);
    await waitFor('the slow header closed', () => slowHeaders.isClosed(), 10_000);
    expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS * 5);
    expect(stalled[0]!.received()).toMatch(/^HTTP\/1\.1 408/);
    await answersValidReview('after-stall');
  });

  it('closes connections beyond --max-connections as they arrive, and serves again once they are gone', async () => {
    const refusedBefore = await metric('fleetiq_webhook_connections_refused_total');
    // Plain TCP connections that never start a handshake: each holds a slot until the handshake timeout.
    const sockets = Array.from({ length: MAX_CONNECTIONS + 10 }, () =>
      net.connect(webhook.port, '127.0.0.1'),
    );
    const closedAt = sockets.map(() => 0);
    const opened = Date.now();
    sockets.forEach((s, i) => {
      s.on('error', () => undefined);
      s.once('close', () => (closedAt[i] = Date.now()));
    });
    await waitFor('the excess closed', () => closedAt.filter((t) => t > 0).length >= 10, 5_000);
    const early = closedAt.filter((t) => t > 0 && t - opened < REQUEST_TIMEOUT_MS / 2).length;
    expect(early).toBeGreaterThanOrEqual(10);
    expect(await metric('fleetiq_webhook_connections_refused_total')).toBeGreaterThanOrEqual(
      refusedBefore + 10,
    );

    // The handshake timeout frees the slots; the webhook answers again.
    await waitFor('all closed', () => closedAt.every((t) => t > 0), 10_000);
    await answersValidReview('after-flood');
  });
});

describe('large bodies', () => {
  it('refuses 3 MB reviews with 413 without reading them, and its memory stays bounded', async () => {
    const body = Buffer.from(
      JSON.stringify(gameServerReview('Ready', 'Ready', { padBytes: 3 * 1024 * 1024 })),
    );
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sample = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    try {
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all(
          Array.from({ length: 8 }, () =>
            httpsRequest(webhook.admissionUrl, {
              body,
              headers: { 'content-type': 'application/json' },
              ca: ca.certPem,
            }).catch((err: Error) => ({ status: -1, err })),
          ),
        );
        // Each is answered 413 as soon as its headers arrive (the body is not read); a client still
        // writing when the connection closes may see the reset instead.
        for (const a of answers) expect([413, -1]).toContain(a.status);
        expect(answers.some((a) => a.status === 413)).toBe(true);
      }
      // Chunked (no Content-Length): read up to the limit, then refused.
      const chunked = await httpsRequest(webhook.admissionUrl, {
        body,
        chunked: true,
        headers: { 'content-type': 'application/json' },
        ca: ca.certPem,
      }).catch(() => ({ status: -1 }));
      expect([413, -1]).toContain(chunked.status);
    } finally {
      clearInterval(sample);
    }
    // 24 reviews of 3 MB: a server that read and parsed them would grow by hundreds of MB.
    expect((rssPeak - rssBefore) / 1024 / 1024).toBeLessThan(64);
    await answersValidReview('after-large');
  });
});

/** The webhook container as the manifests run it: its memory limit and its NODE_OPTIONS. */
function manifestContainer(): { memoryLimitBytes: number; nodeOptions: string } {
  const text = readFileSync(new URL('../../manifests/base/webhook.yaml', import.meta.url), 'utf8');
  const deployment = parseAllDocuments(text)
    .map((d) => d.toJS())
    .find((o) => o?.kind === 'Deployment');
  const container = deployment.spec.template.spec.containers[0];
  const limit: string = container.resources.limits.memory;
  const m = /^(\d+)Mi$/.exec(limit);
  if (!m) throw new Error(`unexpected memory limit ${limit}`);
  const nodeOptions = container.env.find((e: { name: string }) => e.name === 'NODE_OPTIONS')?.value ?? '';
  return { memoryLimitBytes: Number(m[1]) * 1024 * 1024, nodeOptions };
}

/**
 * The CLI bundled as the image holds it and started with the image's Node flags (`node <flags>
 * main.mjs`): under tsx, the compiler alone would take a third of the memory limit.
 */
let built: string | undefined;
async function buildCli(): Promise<string> {
  const cache = join(process.cwd(), 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  const out = await mkdtemp(join(cache, 'webhook-limits-'));
  await buildAll(out, ['image']);
  return out;
}

function runBuilt(args: string[], env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    [...PRODUCTION_NODE_FLAGS, join(built!, BUNDLES.image.out), ...args],
    {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...PRODUCTION_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

describe('the webhook process under attack', () => {
  beforeAll(async () => {
    built = await buildCli();
  }, 120_000);
  afterAll(async () => {
    if (built) await rm(built, { recursive: true, force: true });
  });

  it('stays within its manifest memory limit and answers a valid review, whatever callers send', async () => {
    const { memoryLimitBytes: limit, nodeOptions } = manifestContainer();
    const port = await freePort();
    const opsPort = await freePort();
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: none, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
        'users: [{name: webhook, user: {token: unused}}]',
        'contexts: [{name: none, context: {cluster: none, user: webhook}}]',
        'current-context: none',
        '',
      ].join('\n'),
    );
    const proc = runBuilt(
      [
        'webhook',
        '--cert-management',
        'external',
        '--tls-cert-file',
        join(dir, 'tls.crt'),
        '--tls-key-file',
        join(dir, 'tls.key'),
        '--listen',
        `127.0.0.1:${port}`,
        '--ops-listen',
        `127.0.0.1:${opsPort}`,
        '--no-fence',
        '--request-timeout',
        '3s',
      ],
      { KUBECONFIG: kubeconfig, LOG_LEVEL: 'warn', NODE_OPTIONS: nodeOptions },
    );
    const rss = async () => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      return Number(/^process_resident_memory_bytes (\S+)/m.exec(text)![1]);
    };
    const sockets: tls.TLSSocket[] = [];
    try {
      await waitFor(
        'the webhook process ready',
        async () => {
          if (proc.child.exitCode !== null) throw new Error(`the webhook exited: ${proc.output()}`);
          return (await fetch(`http://127.0.0.1:${opsPort}/readyz`).catch(() => undefined))?.status === 200;
        },
        30_000,
      );
      const url = `https://127.0.0.1:${port}/mutate`;
      const valid = async (uid: string) => {
        const answer = await httpsRequest(url, {
          body: JSON.stringify(gameServerReview('Ready', 'Ready', { uid })),
          headers: { 'content-type': 'application/json' },
          ca: ca.certPem,
        });
        expect(answer.json?.response).toEqual({ uid, allowed: true });
      };
      await valid('before');
      const baseline = await rss();
      let peak = baseline;
      const sampler = setInterval(() => {
        rss().then(
          (v) => (peak = Math.max(peak, v)),
          () => undefined,
        );
      }, 100);
      try {
        // First, enough callers to fill the connection cap each send just under the body limit and
        // stall; the webhook must hold them all, and still answer the API server's review.
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const open = (declared: number, send: number) =>
          new Promise<void>((resolve) => {
            const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' });
            sockets.push(socket);
            socket.resume(); // read (and drop) whatever the webhook answers, as a real client would
            socket.on('error', () => resolve());
            socket.once('close', () => resolve());
            socket.once('secureConnect', () => {
              socket.write(
                `POST /mutate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
              );
              let sent = 0;
              const pump = () => {
                while (sent < send && !socket.destroyed) {
                  sent += chunk.length;
                  if (!socket.write(chunk)) return void socket.once('drain', pump);
                }
                resolve();
              };
              pump();
            });
          });
        await Promise.all(Array.from({ length: 60 }, () => open(255 * 1024, 240 * 1024)));
        await valid('while stalled');
        await waitFor('the stalled uploads cut', () => sockets.every((s) => s.destroyed), 20_000);
        // Then 100 callers each start a 2 MB review and send 1.5 MB of it (a server that buffered them
        // would hold 150 MB), 8 send 3 MB at once, and 100 more stall under the limit.
        await Promise.all([
          ...Array.from({ length: 100 }, () => open(2 * 1024 * 1024, 1536 * 1024)),
          ...Array.from({ length: 100 }, () => open(255 * 1024, 240 * 1024)),
          ...Array.from({ length: 8 }, () =>
            httpsRequest(url, {
              body: Buffer.alloc(3 * 1024 * 1024, 0x20),
              headers: { 'content-type': 'application/json' },
              ca: ca.certPem,
            }).catch(() => undefined),
          ),
        ]);
        await valid('during');
        // The stalled ones are cut by the request timeout; the process is still there and serving.
        try {
          await waitFor('the stalled uploads cut', () => sockets.every((s) => s.destroyed), 20_000);
        } catch (err) {
          const open = sockets.filter((s) => !s.destroyed);
          throw new Error(
            `${(err as Error).message}: ${open.length} open, bytes written ${open
              .slice(0, 5)
              .map((s) => s.bytesWritten)
              .join(',')}, readable ended ${open
              .slice(0, 5)
              .map((s) => s.readableEnded)
              .join(',')}`,
          );
        }
        await valid('after');
      } finally {
        clearInterval(sampler);
      }
      expect(proc.child.exitCode).toBeNull();
      const mib = (n: number) => Math.round(n / 1024 / 1024);
      expect({ baselineMiB: mib(baseline), peakMiB: mib(peak), underLimit: peak < limit }).toEqual({
        baselineMiB: mib(baseline),
        peakMiB: mib(peak),
        underLimit: true,
      });
    } finally {
      for (const s of sockets) s.destroy();
      proc.child.kill('SIGKILL');
      await proc.exit;
    }
  }, 90_000);
});
