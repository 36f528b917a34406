// shared/kube-client: the node agent's and pubsub's Kubernetes client over node:https. Its configuration
// found where client-node finds it (KUBECONFIG, ~/.kube/config, the in-cluster ServiceAccount), the
// forms it does not read handed to client-node; JSON calls with the API server's Status as the error;
// watch streams as client-node's Watch delivers them; one kept-alive connection pool.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { microTime } from '../../pubsub/leader-election.js';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import { KubeClient, kubeClientFor, PATCH_CONTENT_TYPE } from '../../shared/kube-client/client.js';
import {
  DelegatedKubeConfig,
  loadKubeClientConfig,
  SimpleKubeConfig,
  TOKEN_FILE_REFRESH_MS,
} from '../../shared/kube-client/config.js';
import { KubeApiError } from '../../shared/kube-error.js';
import { ConfigError } from '../../shared/ops-server.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A kubeconfig file with one cluster, user and context; returns its path. */
function kubeconfig(cluster: object, user: object): string {
  const path = join(dir, `kubeconfig-${++n}`);
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
}

const NO_HOME = { HOME: join(dir, 'no-home') };

describe('configuration: where client-node finds it', () => {
  it('reads a token, a CA and client certificates from KUBECONFIG, paths relative to the file', async () => {
    writeFileSync(join(dir, 'client.crt'), 'CERT');
    writeFileSync(join(dir, 'client.key'), 'KEY');
    const path = kubeconfig(
      {
        server: 'https://api.example:6443/',
        'certificate-authority-data': Buffer.from('CA').toString('base64'),
        'tls-server-name': 'kubernetes',
      },
      { token: 'secret-token', 'client-certificate': 'client.crt', 'client-key': 'client.key' },
    );
    const kc = loadKubeClientConfig({ env: { ...NO_HOME, KUBECONFIG: path } });
    expect(kc).toBeInstanceOf(SimpleKubeConfig);
    expect(kc.getCurrentCluster()).toMatchObject({ name: 'c', server: 'https://api.example:6443' });
    const opts: Record<string, any> = {};
    await kc.applyToHTTPSOptions(opts);
    expect(opts.headers).toEqual({ Authorization: 'Bearer secret-token' });
    expect(String(opts.ca)).toBe('CA');
    expect(String(opts.cert)).toBe('CERT');
    expect(String(opts.key)).toBe('KEY');
    expect(opts.servername).toBe('kubernetes');
    expect(opts.rejectUnauthorized).toBeUndefined();
  });

  it('falls back to ~/.kube/config, then to the in-cluster ServiceAccount', async () => {
    const home = join(dir, 'home');
    const path = kubeconfig({ server: 'https://from-home:443' }, { token: 't' });
    mkdirSync(join(home, '.kube'), { recursive: true });
    copyFileSync(path, join(home, '.kube', 'config'));
    expect(loadKubeClientConfig({ env: { HOME: home } }).getCurrentCluster()?.server).toBe(
      'https://from-home:443',
    );

    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'token-1\n');
    writeFileSync(join(sa, 'ca.crt'), 'CLUSTER-CA');
    const env = { ...NO_HOME, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    let now = 1_000_000;
    const kc = loadKubeClientConfig({ env, serviceAccountRoot: sa, now: () => now });
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:443');
    const read = async () => {
      const opts: Record<string, any> = {};
      await kc.applyToHTTPSOptions(opts);
      return opts;
    };
    expect(await read()).toMatchObject({ headers: { Authorization: 'Bearer token-1' } });
    expect(String((await read()).ca)).toBe('CLUSTER-CA');
    // The kubelet rotates the token: read again once a minute, not on every request.
    writeFileSync(join(sa, 'token'), 'token-2\n');
    now += TOKEN_FILE_REFRESH_MS;
    expect((await read()).headers).toEqual({ Authorization: 'Bearer token-1' });
    now += 1;
    expect((await read()).headers).toEqual({ Authorization: 'Bearer token-2' });

    // IPv6 in brackets; the plain-HTTP ports as client-node reads them.
    const v6 = { ...env, KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '8080' };
    expect(loadKubeClientConfig({ env: v6, serviceAccountRoot: sa }).getCurrentCluster()?.server).toBe(
      'http://[fd00::1]:8080',
    );
    expect(() => loadKubeClientConfig({ env: NO_HOME, serviceAccountRoot: sa })).toThrow(
      /KUBERNETES_SERVICE_HOST/,
    );
  });

  it('refuses, naming KUBECONFIG, a file it cannot read or whose context names no cluster or server', () => {
    const broken = join(dir, 'broken');
    writeFileSync(broken, 'clusters: [unclosed\n');
    const load = (KUBECONFIG: string) => () => loadKubeClientConfig({ env: { ...NO_HOME, KUBECONFIG } });
    expect(load(broken)).toThrow(ConfigError);
    expect(load(broken)).toThrow(/KUBECONFIG.*cannot load/);
    expect(load(join(dir, 'missing'))).toThrow(/ENOENT/);
    const noCluster = join(dir, 'no-cluster');
    writeFileSync(noCluster, stringify({ 'current-context': 'gone', contexts: [], clusters: [] }));
    expect(load(noCluster)).toThrow(/the current context "gone" names no cluster/);
    expect(load(kubeconfig({ server: '' }, {}))).toThrow(/cluster "c" has no server/);
  });

  it('hands every other form to client-node: exec plugins, impersonation, proxies, several files', () => {
    const exec = kubeconfig(
      { server: 'https://eks.example' },
      { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'aws' } },
    );
    const cases: [string, RegExp][] = [
      [exec, /exec/],
      [kubeconfig({ server: 'https://x' }, { token: 't', as: 'someone' }), /as/],
      [kubeconfig({ server: 'https://x', 'proxy-url': 'http://proxy:3128' }, { token: 't' }), /proxy-url/],
      [`${exec}:${kubeconfig({ server: 'https://y' }, {})}`, /several files/],
    ];
    for (const [KUBECONFIG, reason] of cases) {
      const kc = loadKubeClientConfig({ env: { ...NO_HOME, KUBECONFIG } });
      expect(kc).toBeInstanceOf(DelegatedKubeConfig);
      expect((kc as DelegatedKubeConfig).reason).toMatch(reason);
    }
  });
});

describe('requests and watches', () => {
  let server: Server;
  let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void;
  let connections = 0;
  const seen: { method?: string; url?: string; headers: IncomingMessage['headers']; body: string }[] = [];
  let url = '';

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        handler(req, res, body);
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  afterEach(() => {
    seen.length = 0;
  });

  /** A client of the test server; plain HTTP needs insecure-skip-tls-verify, as with client-node. */
  const client = (user: object = { token: 'tok' }, timeoutMs?: number) =>
    new KubeClient(
      loadKubeClientConfig({
        env: { ...NO_HOME, KUBECONFIG: kubeconfig({ server: url, 'insecure-skip-tls-verify': true }, user) },
      }),
      timeoutMs,
    );
  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  it('sends JSON with the credentials and the patch type, and reuses one connection', async () => {
    handler = (req, res, body) =>
      json(res, 200, { kind: 'Node', metadata: { name: 'n' }, echo: body || null });
    const c = client();
    const before = connections;
    const got = await c.request<any>('getNode', {
      method: 'GET',
      path: '/api/v1/nodes/n',
      query: { a: 'b c', x: undefined },
    });
    expect(got).toMatchObject({ kind: 'Node', echo: null });
    const patched = await c.request<any>('patchNode', {
      method: 'PATCH',
      path: '/api/v1/nodes/n',
      body: { metadata: { labels: { a: 'b' } } },
      contentType: PATCH_CONTENT_TYPE.merge,
    });
    expect(JSON.parse(patched.echo)).toEqual({ metadata: { labels: { a: 'b' } } });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /api/v1/nodes/n?a=b+c',
      'PATCH /api/v1/nodes/n',
    ]);
    expect(seen[0]!.headers.authorization).toBe('Bearer tok');
    expect(seen[1]!.headers['content-type']).toBe('application/merge-patch+json');
    expect(connections - before).toBe(1);
    c.close();
  });

  it('fails with the API server Status, or code 0 when there is no answer', async () => {
    handler = (req, res) =>
      req.url?.includes('plain')
        ? (res.writeHead(500), res.end('oops'))
        : json(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'nodes "n" not found' });
    const c = client();
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (err: unknown) => err,
      );
    const notFound = await failure(c.request('getNode', { method: 'GET', path: '/api/v1/nodes/n' }));
    expect(notFound).toBeInstanceOf(KubeApiError);
    expect(notFound).toMatchObject({
      code: 404,
      reason: 'NotFound',
      message: 'getNode: 404 NotFound: nodes "n" not found',
    });
    expect(await failure(c.request('x', { method: 'GET', path: '/plain' }))).toMatchObject({
      code: 500,
      message: 'x: 500 Internal Server Error: oops',
    });
    const refused = new KubeClient(
      loadKubeClientConfig({
        env: {
          ...NO_HOME,
          KUBECONFIG: kubeconfig({ server: 'http://127.0.0.1:1', 'insecure-skip-tls-verify': true }, {}),
        },
      }),
    );
    expect(await failure(refused.request('getNode', { method: 'GET', path: '/' }))).toMatchObject({
      code: 0,
      reason: 'NoResponse',
    });
    // Plain HTTP without insecure-skip-tls-verify is refused before anything is sent, as client-node does.
    const insecure = new KubeClient(
      loadKubeClientConfig({ env: { ...NO_HOME, KUBECONFIG: kubeconfig({ server: url }, {}) } }),
    );
    expect(await failure(insecure.request('getNode', { method: 'GET', path: '/' }))).toMatchObject({
      code: 0,
      reason: 'Insecure',
    });
    expect(seen).toHaveLength(2);
    c.close();
  });

  it('a configuration handed to client-node: its credentials and headers, over the same pool', async () => {
    handler = (_req, res) => json(res, 200, {});
    const c = client({ token: 'tok', as: 'operator' });
    expect(c.config).toBeInstanceOf(DelegatedKubeConfig);
    await c.request('getNode', { method: 'GET', path: '/api/v1/nodes/n' });
    expect(seen[0]!.headers).toMatchObject({ authorization: 'Bearer tok', 'impersonate-user': 'operator' });
    c.close();
  });

  it('times out a call the server does not answer', async () => {
    handler = () => undefined; // never answers
    const c = client({}, 200);
    await expect(c.request('getNode', { method: 'GET', path: '/slow' })).rejects.toMatchObject({
      code: 0,
      reason: 'Timeout',
    });
    c.close();
  });

  it('watches: events split across writes, bookmarks, lines that are not JSON skipped, the end reported once', async () => {
    let respond!: ServerResponse;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('');
      respond = res;
    };
    const c = client();
    const events: string[] = [];
    const ends: unknown[] = [];
    const controller = await c.watch(
      '/api/v1/nodes',
      { resourceVersion: '5', allowWatchBookmarks: true },
      (type, obj) => events.push(`${type} ${obj?.metadata?.name ?? obj?.metadata?.resourceVersion}`),
      (err) => ends.push(err),
    );
    expect(seen[0]!.url).toBe('/api/v1/nodes?resourceVersion=5&allowWatchBookmarks=true&watch=true');
    const line = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'n1' } } });
    respond.write(line.slice(0, 10));
    respond.write(`${line.slice(10)}\nnot json\n`);
    respond.write(
      `${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })}\n`,
    );
    await waitFor('two events', () => events.length === 2);
    expect(events).toEqual(['ADDED n1', 'BOOKMARK 9']);
    respond.end();
    await waitFor('the end', () => ends.length === 1);
    expect(ends).toEqual([undefined]);
    expect(controller.signal.aborted).toBe(true);
    c.close();
  });

  it('watches: a refusal is reported with its status code; an abort reports nothing; silence ends it', async () => {
    handler = (_req, res) =>
      json(res, 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    const c = client();
    const ends: any[] = [];
    const refused = await c.watch(
      '/api/v1/nodes',
      { resourceVersion: '1' },
      () => undefined,
      (err) => ends.push(err),
    );
    expect(refused.signal.aborted).toBe(true);
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ statusCode: 410, message: 'too old resource version' });

    handler = (_req, res) => {
      res.writeHead(200);
      res.write('\n');
    };
    const quiet: unknown[] = [];
    const aborted = await c.watch(
      '/api/v1/nodes',
      {},
      () => undefined,
      (err) => quiet.push(err),
    );
    aborted.abort();
    const silent: unknown[] = [];
    await c.watch(
      '/api/v1/nodes',
      {},
      () => undefined,
      (err) => silent.push(err),
      200,
    );
    await waitFor('the inactivity timeout', () => silent.length === 1);
    expect(silent[0]).toMatchObject({ name: 'TimeoutError', message: 'no data within 200 ms' });
    expect(quiet).toEqual([]);
    c.close();
  });
});

describe('against the API server emulator, over HTTPS with its CA', () => {
  let emu: KubeEmulator;
  beforeAll(async () => {
    emu = await startKubeEmulator({ authorization: 'allow-all' });
  });
  afterAll(async () => {
    await emu?.stop();
  });

  it('the same configuration object shares one client; lists, creates and is refused as the API says', async () => {
    const path = join(dir, 'emulator');
    writeFileSync(path, emu.kubeconfig());
    const kc = loadKubeClientConfig({ env: { ...NO_HOME, KUBECONFIG: path } });
    expect(kc).toBeInstanceOf(SimpleKubeConfig);
    const c = kubeClientFor(kc);
    expect(kubeClientFor(kc)).toBe(c);
    await c.request('createNode', {
      method: 'POST',
      path: '/api/v1/nodes',
      body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'tls-node' } },
    });
    const list = await c.request<any>('listNodes', {
      method: 'GET',
      path: '/api/v1/nodes',
      query: { fieldSelector: 'metadata.name=tls-node' },
    });
    expect(list.items.map((i: any) => i.metadata.name)).toEqual(['tls-node']);
    await expect(
      c.request('createNode', {
        method: 'POST',
        path: '/api/v1/nodes',
        body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'tls-node' } },
      }),
    ).rejects.toMatchObject({ code: 409, reason: 'AlreadyExists' });
    c.close();
  });
});

describe('Lease times', () => {
  it('are MicroTime: six fractional digits', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
  });
});
