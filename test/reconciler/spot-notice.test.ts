// The Spot notice monitor against the emulated instance metadata service: IMDSv2 tokens (reuse,
// refusal → a new token), the notice appearing and going, and every way the service can misbehave
// (unavailable, hanging, garbage, unreachable) without the monitor throwing or forgetting a notice.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import { startImdsEmulator, type ImdsEmulator } from '../../sandbox/imds/emulator.js';
import {
  SpotNoticeMonitor,
  parseInstanceAction,
  parseRebalanceRecommendation,
  type RebalanceRecommendation,
  type SpotNotice,
} from '../../reconciler/spot-notice.js';
import { silent, waitFor } from './helpers.js';

const INSTANCE = 'i-0123456789abcdef0';
let imds: ImdsEmulator;
const monitors: SpotNoticeMonitor[] = [];

beforeAll(async () => {
  imds = await startImdsEmulator({ instanceId: INSTANCE });
});
afterAll(async () => {
  await imds.stop();
});
afterEach(async () => {
  imds.control.setFault(undefined);
  imds.control.clearSpotNotice();
  imds.control.clearRebalanceRecommendation();
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

function monitor(o: { endpoint?: string; timeoutMs?: number; intervalMs?: number; now?: () => number } = {}) {
  const changes: (SpotNotice | undefined)[] = [];
  const rebalances: (RebalanceRecommendation | undefined)[] = [];
  const m = new SpotNoticeMonitor({
    endpoint: o.endpoint ?? imds.url,
    timeoutMs: o.timeoutMs ?? 1_000,
    intervalMs: o.intervalMs ?? 50,
    onChange: (n) => changes.push(n),
    onRebalanceChange: (r) => rebalances.push(r),
    logger: silent,
    ...(o.now ? { now: o.now } : {}),
  });
  monitors.push(m);
  return { m, changes, rebalances };
}

describe('the emulated instance metadata service (IMDSv2)', () => {
  it('answers metadata only with a live token, and hands tokens out only for a valid TTL and no proxy', async () => {
    expect((await fetch(`${imds.url}/latest/meta-data/instance-id`)).status).toBe(401);
    const put = (headers: Record<string, string>) =>
      fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers });
    expect((await put({})).status).toBe(400);
    expect((await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '0' })).status).toBe(400);
    expect((await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '21601' })).status).toBe(400);
    expect(
      (await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '60', 'X-Forwarded-For': '10.0.0.1' })).status,
    ).toBe(403);
    const tokenRes = await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '60' });
    expect(tokenRes.status).toBe(200);
    const token = await tokenRes.text();
    const get = (path: string, t = token) =>
      fetch(`${imds.url}${path}`, { headers: { 'X-aws-ec2-metadata-token': t } });
    expect(await (await get('/latest/meta-data/instance-id')).text()).toBe(INSTANCE);
    expect((await get('/latest/meta-data/instance-id', 'forged')).status).toBe(401);
    expect((await get('/latest/meta-data/spot/instance-action')).status).toBe(404);
    const posted = await fetch(`${imds.url}/control/spot-notice?action=stop&time=2030-01-01T00:00:00Z`, {
      method: 'POST',
    });
    expect(posted.status).toBe(201);
    const doc = await (await get('/latest/meta-data/spot/instance-action')).json();
    expect(doc).toEqual({ action: 'stop', time: '2030-01-01T00:00:00Z' });
    expect((await fetch(`${imds.url}/control/spot-notice?action=explode`, { method: 'POST' })).status).toBe(
      400,
    );
    expect((await fetch(`${imds.url}/control/spot-notice`, { method: 'DELETE' })).status).toBe(204);
    expect((await get('/latest/meta-data/spot/instance-action')).status).toBe(404);
    imds.control.revokeTokens();
    expect((await get('/latest/meta-data/instance-id')).status).toBe(401);
  });

  it('expires tokens on its clock', async () => {
    let t = 1_000_000;
    const local = await startImdsEmulator({ instanceId: INSTANCE, now: () => t });
    try {
      const token = await (
        await fetch(`${local.url}/latest/api/token`, {
          method: 'PUT',
          headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '5' },
        })
      ).text();
      const get = () =>
        fetch(`${local.url}/latest/meta-data/instance-id`, {
          headers: { 'X-aws-ec2-metadata-token': token },
        });
      expect((await get()).status).toBe(200);
      t += 5_000;
      expect((await get()).status).toBe(401);
    } finally {
      await local.stop();
    }
  });
});

describe('parseInstanceAction', () => {
  it.each([
    ['{"action":"terminate","time":"2026-12-02T16:00:00Z"}', 'terminate'],
    ['{"action":"stop","time":"2026-12-02T16:00:00.123Z"}', 'stop'],
    ['{"action":"hibernate","time":"2026-12-02T17:00:00+01:00"}', 'hibernate'],
  ])('accepts %s', (body, action) => {
    const r = parseInstanceAction(body);
    expect(r.ok && r.action).toBe(action);
    expect(r.ok && r.interruptAt).toBe(Date.parse('2026-12-02T16:00:00Z') + (action === 'stop' ? 123 : 0));
  });

  it.each([
    ['', 'not JSON'],
    ['<html>', 'not JSON'],
    ['null', 'not an object'],
    ['[1]', 'not an object'],
    ['{"time":"2026-12-02T16:00:00Z"}', 'action'],
    ['{"action":"reboot","time":"2026-12-02T16:00:00Z"}', 'action'],
    ['{"action":"terminate"}', 'time'],
    ['{"action":"terminate","time":"tomorrow"}', 'time'],
    ['{"action":"terminate","time":"2026-12-02 16:00:00"}', 'time'],
    ['{"action":"terminate","time":1700000000}', 'time'],
    [`{"action":"terminate","time":"2026-12-02T16:00:00Z","pad":"${'x'.repeat(5000)}"}`, 'bytes'],
  ])('refuses document #%#', (body, why) => {
    const r = parseInstanceAction(body);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain(why);
  });
});

describe('parseRebalanceRecommendation', () => {
  it.each([
    ['{"noticeTime":"2026-12-02T16:00:00Z"}', 0],
    ['{"noticeTime":"2026-12-02T16:00:00.250Z"}', 250],
    ['{"noticeTime":"2026-12-02T17:00:00+01:00","extra":1}', 0],
  ])('accepts %s', (body, ms) => {
    const r = parseRebalanceRecommendation(body);
    expect(r.ok && r.noticeTime).toBe(Date.parse('2026-12-02T16:00:00Z') + ms);
  });

  it.each([
    ['', 'not JSON'],
    ['<html>', 'not JSON'],
    ['"2026-12-02T16:00:00Z"', 'not an object'],
    ['[]', 'not an object'],
    ['{}', 'noticeTime'],
    ['{"noticeTime":"soon"}', 'noticeTime'],
    ['{"noticeTime":"2026-12-02 16:00:00"}', 'noticeTime'],
    ['{"noticeTime":1700000000}', 'noticeTime'],
    [`{"noticeTime":"2026-12-02T16:00:00Z","pad":"${'x'.repeat(5000)}"}`, 'bytes'],
  ])('refuses document #%#', (body, why) => {
    const r = parseRebalanceRecommendation(body);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain(why);
  });
});

describe('SpotNoticeMonitor: the rebalance recommendation', () => {
  it('is read by the same poll with the same token: absent, then there (once), then gone', async () => {
    let t = 7_000_000;
    const { m, changes, rebalances } = monitor({ now: () => t });
    expect(await m.poll()).toBe('none');
    expect(m.currentRebalance()).toBeUndefined();
    const doc = imds.control.postRebalanceRecommendation({ noticeTime: new Date('2030-01-01T00:00:00Z') });
    expect(doc).toEqual({ noticeTime: '2030-01-01T00:00:00Z' });
    t += 2_000;
    expect(await m.poll()).toBe('none');
    t += 2_000;
    await m.poll();
    expect(m.currentRebalance()).toEqual({
      noticeTime: Date.parse('2030-01-01T00:00:00Z'),
      firstSeenAt: 7_002_000,
      lastSeenAt: 7_004_000,
    });
    expect(rebalances).toHaveLength(1);
    // The Spot notice is its own document: a recommendation is not a notice.
    expect(m.current()).toBeUndefined();
    expect(changes).toEqual([]);
    imds.control.clearRebalanceRecommendation();
    await m.poll();
    expect(rebalances).toEqual([expect.objectContaining({ firstSeenAt: 7_002_000 }), undefined]);
    expect(m.stats.tokens).toBe(1);
    expect(m.stats.rebalancePolls).toMatchObject({ none: 2, notice: 2 });
    expect(m.stats.polls).toMatchObject({ none: 4 });
  });

  it('keeps a recommendation it saw through garbage and outages, counting each, and never throws', async () => {
    const { m, rebalances } = monitor({ timeoutMs: 200 });
    imds.control.postRebalanceRecommendation();
    await m.poll();
    expect(m.currentRebalance()).toBeDefined();
    imds.control.setFault('garbage');
    await m.poll();
    expect(m.stats.rebalancePolls.invalid).toBe(1);
    imds.control.setFault('unavailable');
    await m.poll();
    imds.control.setFault('hang');
    await m.poll();
    expect(m.stats.rebalancePolls).toMatchObject({ notice: 1, invalid: 1, http_error: 1, timeout: 1 });
    imds.control.setFault(undefined);
    expect(m.currentRebalance()).toBeDefined();
    await m.poll();
    expect(rebalances).toHaveLength(1);
  });

  it('is seen again by a new monitor (an agent restarted later): it stays in metadata', async () => {
    imds.control.postRebalanceRecommendation({ noticeTime: new Date('2030-01-01T00:00:00Z') });
    const first = monitor();
    await first.m.poll();
    await first.m.stop();
    const second = monitor();
    await second.m.poll();
    expect(second.m.currentRebalance()?.noticeTime).toBe(Date.parse('2030-01-01T00:00:00Z'));
  });

  it('is posted and cleared through the emulator control over HTTP', async () => {
    const posted = await fetch(`${imds.url}/control/rebalance-recommendation?time=2030-01-01T00:00:00Z`, {
      method: 'POST',
    });
    expect(posted.status).toBe(201);
    expect(imds.control.rebalanceRecommendation()).toEqual({ noticeTime: '2030-01-01T00:00:00Z' });
    expect(
      (await fetch(`${imds.url}/control/rebalance-recommendation?time=never`, { method: 'POST' })).status,
    ).toBe(400);
    expect((await fetch(`${imds.url}/control/rebalance-recommendation`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect(imds.control.rebalanceRecommendation()).toBeUndefined();
  });
});

describe('SpotNoticeMonitor', () => {
  it('sees no notice, then the notice (once), then its end; one token serves every poll', async () => {
    let t = 5_000_000;
    const { m, changes } = monitor({ now: () => t });
    expect(await m.poll()).toBe('none');
    expect(await m.poll()).toBe('none');
    expect(m.current()).toBeUndefined();
    const doc = imds.control.postSpotNotice({ action: 'terminate', time: new Date('2030-01-01T00:02:00Z') });
    t += 2_000;
    expect(await m.poll()).toBe('notice');
    t += 2_000;
    expect(await m.poll()).toBe('notice');
    expect(m.current()).toEqual({
      action: 'terminate',
      interruptAt: Date.parse(doc.time),
      firstSeenAt: 5_002_000,
      lastSeenAt: 5_004_000,
    });
    expect(changes).toHaveLength(1);
    imds.control.clearSpotNotice();
    expect(await m.poll()).toBe('none');
    expect(changes).toHaveLength(2);
    expect(changes[1]).toBeUndefined();
    expect(m.stats.tokens).toBe(1);
    expect(m.stats.polls).toMatchObject({ none: 3, notice: 2 });
  });

  it('fetches a new token when the service refuses the one it holds (401)', async () => {
    const { m } = monitor();
    expect(await m.poll()).toBe('none');
    imds.control.revokeTokens();
    imds.control.postSpotNotice();
    expect(await m.poll()).toBe('notice');
    expect(m.stats.tokens).toBe(2);
  });

  it('renews its token before it expires', async () => {
    let t = 0;
    const m = new SpotNoticeMonitor({
      endpoint: imds.url,
      timeoutMs: 1_000,
      intervalMs: 50,
      tokenTtlSeconds: 600,
      onChange: () => undefined,
      logger: silent,
      now: () => t,
    });
    monitors.push(m);
    await m.poll();
    t = 539_000;
    await m.poll();
    expect(m.stats.tokens).toBe(1);
    t = 540_000;
    await m.poll();
    expect(m.stats.tokens).toBe(2);
  });

  it('keeps a notice it saw through errors and garbage, and never throws', async () => {
    const { m, changes } = monitor({ timeoutMs: 200 });
    imds.control.postSpotNotice();
    expect(await m.poll()).toBe('notice');
    imds.control.setFault('garbage');
    expect(await m.poll()).toBe('invalid');
    imds.control.setFault('unavailable');
    expect(await m.poll()).toBe('http_error');
    imds.control.setFault('hang');
    expect(await m.poll()).toBe('timeout');
    imds.control.setFault(undefined);
    imds.control.revokeTokens();
    imds.control.setFault('token-unavailable');
    expect(await m.poll()).toBe('token_error');
    expect(m.current()?.action).toBe('terminate');
    expect(changes).toHaveLength(1);
    imds.control.setFault(undefined);
    expect(await m.poll()).toBe('notice');
    expect(changes).toHaveLength(1);
  });

  it('reports an unreachable service as such', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const { m } = monitor({ endpoint: `http://127.0.0.1:${port}` });
    expect(await m.poll()).toBe('unreachable');
    expect(m.current()).toBeUndefined();
  });

  it('polls on its own once started, and stops', async () => {
    const { m, changes } = monitor({ intervalMs: 20 });
    m.start();
    await waitFor('a few polls', () => m.stats.polls.none >= 2);
    imds.control.postSpotNotice({ action: 'hibernate' });
    await waitFor('the notice', () => changes.length === 1);
    expect(changes[0]?.action).toBe('hibernate');
    await m.stop();
    const polls = m.stats.polls.notice + m.stats.polls.none;
    const before = imds.control.requests().metadata;
    await new Promise((r) => setImmediate(r));
    expect(m.stats.polls.notice + m.stats.polls.none).toBe(polls);
    expect(imds.control.requests().metadata).toBe(before);
  });
});
