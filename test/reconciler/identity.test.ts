import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { imdsInstanceId, parseProviderId, resolveInstanceId } from '../../reconciler/identity.js';

describe('parseProviderId', () => {
  it.each([
    ['aws:///us-east-1a/i-0123456789abcdef0', 'us-east-1a', 'i-0123456789abcdef0'],
    ['aws:///eu-west-3c/i-0aB3456789abcdef9', 'eu-west-3c', 'i-0aB3456789abcdef9'],
    ['aws:///us-gov-west-1b/i-0123456789abcdef0', 'us-gov-west-1b', 'i-0123456789abcdef0'],
    ['aws:///ap-southeast-2-akl-1a/i-0123456789abcdef0', 'ap-southeast-2-akl-1a', 'i-0123456789abcdef0'],
  ])('accepts %s', (providerId, availabilityZone, instanceId) => {
    expect(parseProviderId(providerId)).toEqual({ ok: true, identity: { availabilityZone, instanceId } });
  });

  it.each([
    [undefined, /no spec.providerID/],
    ['', /no spec.providerID/],
    ['gce://my-project/us-central1-a/node-1', /not of the form/],
    ['aws://us-east-1a/i-0123456789abcdef0', /not of the form/],
    ['aws:////i-0123456789abcdef0', /not of the form/],
    ['aws:///us-east-1a/i-0123456789abcdef0/extra', /not of the form/],
    ['aws:///us-east-1a/fargate-ip-10-0-0-1/x', /not of the form/],
    ['aws:///us-east-1a/i-12345678', /does not end in an EC2 instance id/],
    ['aws:///us-east-1a/i-0123456789abcdef01', /does not end in an EC2 instance id/],
    ['aws:///us-east-1a/i-0123456789abcdef_', /does not end in an EC2 instance id/],
    [' aws:///us-east-1a/i-0123456789abcdef0', /not of the form/],
  ])('refuses %j', (providerId, reason) => {
    const r = parseProviderId(providerId);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toMatch(reason);
  });
});

describe('IMDSv2', () => {
  // A minimal metadata service: the test decides how each request is answered.
  type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let handler: Handler;
  const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders }[] = [];
  let server: http.Server;
  let endpoint: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers });
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const imdsV2: Handler = (req, res) => {
    if (
      req.method === 'PUT' &&
      req.url === '/latest/api/token' &&
      req.headers['x-aws-ec2-metadata-token-ttl-seconds']
    )
      return void res.end('TOKEN-123');
    if (req.method === 'GET' && req.url === '/latest/meta-data/instance-id') {
      if (req.headers['x-aws-ec2-metadata-token'] !== 'TOKEN-123') return void res.writeHead(401).end();
      return void res.end('i-0123456789abcdef0');
    }
    res.writeHead(404).end();
  };

  it('gets a token with a TTL, then the instance id with that token', async () => {
    handler = imdsV2;
    seen.length = 0;
    expect(await imdsInstanceId({ endpoint: `${endpoint}/`, timeoutMs: 1000 })).toBe('i-0123456789abcdef0');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'PUT /latest/api/token',
      'GET /latest/meta-data/instance-id',
    ]);
    expect(Number(seen[0].headers['x-aws-ec2-metadata-token-ttl-seconds'])).toBeGreaterThan(0);
    expect(seen[1].headers['x-aws-ec2-metadata-token']).toBe('TOKEN-123');
  });

  it('retries a throttled or failing service, then succeeds', async () => {
    let calls = 0;
    handler = (req, res) => (++calls <= 2 ? void res.writeHead(503).end('busy') : imdsV2(req, res));
    expect(await imdsInstanceId({ endpoint, timeoutMs: 1000, attempts: 3, backoffMs: 1 })).toBe(
      'i-0123456789abcdef0',
    );
  });

  it('fails without retrying when IMDSv2 is refused (e.g. IMDS disabled)', async () => {
    let calls = 0;
    handler = (_req, res) => {
      calls++;
      res.writeHead(403).end('forbidden');
    };
    await expect(imdsInstanceId({ endpoint, timeoutMs: 1000, attempts: 3, backoffMs: 1 })).rejects.toThrow(
      /HTTP 403/,
    );
    expect(calls).toBe(1);
  });

  it('refuses an answer that is not an instance id', async () => {
    handler = (req, res) =>
      req.method === 'PUT' ? void res.end('T') : void res.end('<html>captive portal</html>');
    await expect(imdsInstanceId({ endpoint, timeoutMs: 1000, backoffMs: 1 })).rejects.toThrow(
      /not an EC2 instance id/,
    );
  });

  it('gives up after its timeout when the service does not answer, naming the hop-limit cause', async () => {
    handler = () => {
      // never answers (what a pod sees when the IMDSv2 hop limit drops the reply)
    };
    await expect(imdsInstanceId({ endpoint, timeoutMs: 100, attempts: 2, backoffMs: 1 })).rejects.toThrow(
      /no answer within 100 ms.*hop limit/,
    );
  });

  it('reports an unreachable endpoint', async () => {
    await expect(
      imdsInstanceId({ endpoint: 'http://127.0.0.1:1', timeoutMs: 500, attempts: 1 }),
    ).rejects.toThrow(/cannot read the instance id from IMDSv2/);
  });
});

describe('resolveInstanceId', () => {
  it('uses the providerID and never asks IMDS when it is valid', async () => {
    let asked = false;
    const r = await resolveInstanceId('aws:///us-east-1a/i-0123456789abcdef0', async () => {
      asked = true;
      return 'i-0fedcba9876543210';
    });
    expect(r).toEqual({ instanceId: 'i-0123456789abcdef0', source: 'providerID' });
    expect(asked).toBe(false);
  });

  it('falls back to IMDS and says why', async () => {
    const r = await resolveInstanceId('kind://docker/kind/kind-worker', async () => 'i-0fedcba9876543210');
    expect(r).toEqual({
      instanceId: 'i-0fedcba9876543210',
      source: 'imds',
      providerIdProblem: expect.stringMatching(/not of the form/),
    });
  });
});
