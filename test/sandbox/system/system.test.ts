// The system builder on the emulator: each part it starts works and is its caller's to use, every
// identity gets its own credentials under the installation's RBAC, and stop() takes down everything
// it started, the caller's deferred parts before the ones they depend on. The parts that need no
// Kubernetes are had alone too (startParts), stopped the same way.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { COMPONENT_USERS } from '../../../sandbox/run/components.js';
import { WEBHOOK_CONFIGURATION_NAME } from '../../../sandbox/run/manifests.js';
import { freePort } from '../../../sandbox/run/redis-process.js';
import { startParts, startSystem, type System } from '../../../sandbox/system/system.js';

let system: System;
let stopped = false;
const deferredSaw: { redisRunning?: boolean; clusterNodes?: number } = {};

beforeAll(async () => {
  system = await startSystem({ controlPlane: 'emulated', redis: true, webhookConfiguration: false });
  await system.startFleetIQ({ groups: [{ name: 'g', instances: 2 }] });
  await system.startCluster({ nodes: { count: 2 }, waitForFleets: false });
  // Registered last, so it runs first: what it depends on is still there.
  system.defer('a part of the caller', async () => {
    deferredSaw.redisRunning = system.redis?.running();
    deferredSaw.clusterNodes = (
      await system.admin.list({ group: '', version: 'v1', resource: 'nodes' })
    ).items.length;
  });
}, 60_000);

afterAll(async () => {
  if (!stopped) await system.stop();
});

describe('startSystem (emulated)', () => {
  it('starts the parts asked for, on one clock', async () => {
    expect(system.kind).toBe('emulated');
    const redis = new Redis(system.redis!.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
    expect(system.fleetiq!.control.gameServers({ group: 'g' })).toEqual([]);
    expect(system.fleetiq!.clock).toBe(system.clock);
    expect(system.sim!.nodes.instances()).toHaveLength(2);
  });

  it('leaves out the webhook configuration when asked: no webhook runs to answer it', async () => {
    await expect(
      system.admin.get({
        group: 'admissionregistration.k8s.io',
        version: 'v1',
        resource: 'mutatingwebhookconfigurations',
        name: WEBHOOK_CONFIGURATION_NAME,
      }),
    ).rejects.toMatchObject({ code: 404 });
  });

  it('gives each identity its own credentials, held to the installation’s RBAC', async () => {
    const agent = (await system.kubeConfig(COMPONENT_USERS.reconciler)).makeApiClient(CoreV1Api);
    expect((await agent.listNode()).items).toHaveLength(2);
    const pubsub = (await system.kubeConfig(COMPONENT_USERS.pubsub)).makeApiClient(CoreV1Api);
    await expect(pubsub.listNode()).rejects.toMatchObject({ code: 403 });
  });

  it('stops everything it started, the caller’s parts first, once', async () => {
    const redisUrl = system.redis!.url;
    const fleetiqUrl = system.fleetiq!.url;
    stopped = true;
    await system.stop();
    expect(deferredSaw).toEqual({ redisRunning: true, clusterNodes: 2 });
    expect(system.redis!.running()).toBe(false);
    await expect(fetch(fleetiqUrl, { method: 'POST' })).rejects.toThrow();
    const redis = new Redis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    await expect(redis.connect()).rejects.toThrow();
    await expect(system.stop()).resolves.toBeUndefined();
    expect(() => system.defer('late', () => undefined)).toThrow(/already ran/);
  });
});

describe('startParts (no control plane)', () => {
  it('starts Redis, FleetIQ and instance metadata on one clock, and stops them all, late ones too', async () => {
    const parts = await startParts({ redis: true, speed: 5 });
    try {
      const fleetiq = await parts.startFleetIQ({ groups: [{ name: 'g', instances: 1 }] });
      expect(fleetiq.clock).toBe(parts.clock);
      expect(parts.clock.speed).toBe(5);
      const imds = await parts.startImds({ instanceId: 'i-0123456789abcdef0' });
      const token = await fetch(`${imds.url}/latest/api/token`, {
        method: 'PUT',
        headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
      });
      expect(token.status).toBe(200);
      const id = await fetch(`${imds.url}/latest/meta-data/instance-id`, {
        headers: { 'x-aws-ec2-metadata-token': await token.text() },
      });
      expect(await id.text()).toBe('i-0123456789abcdef0');
      expect(parts.redis!.running()).toBe(true);
      expect('kube' in parts).toBe(false);

      await parts.stop();
      expect(parts.redis!.running()).toBe(false);
      await expect(fetch(fleetiq.url, { method: 'POST' })).rejects.toThrow();
      await expect(fetch(`${imds.url}/latest/api/token`, { method: 'PUT' })).rejects.toThrow();

      // A part started once the parts stopped (an instance launched meanwhile) does not outlive them.
      const port = await freePort();
      await expect(parts.startImds({ instanceId: 'i-0123456789abcdef1', port })).rejects.toThrow(
        /already ran/,
      );
      await expect(fetch(`http://127.0.0.1:${port}/latest/api/token`, { method: 'PUT' })).rejects.toThrow();
    } finally {
      await parts.stop();
    }
  });
});
