// Every container of every overlay runs restricted (the "restricted" Pod Security Standard and then
// some), with requests and limits, and probes; RBAC grants no wildcard.
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { containersOf, podTemplates, quantity } from './inspect.js';
import { OVERLAYS, rbacObjects, renderOverlay } from './render.js';
import { describeObject } from './schema-check.js';

const all: { overlay: string; objects: KubeObject[] }[] = [];
beforeAll(async () => {
  for (const overlay of ['base', ...OVERLAYS] as const)
    all.push({ overlay, objects: await renderOverlay(overlay) });
});

/** The effective setting: the container's, else the pod's. */
const effective = (pod: any, container: any, field: string) =>
  container.securityContext?.[field] ?? pod.securityContext?.[field];

describe('pod security', () => {
  it('every pod runs without host access, as non-root, under the RuntimeDefault seccomp profile', () => {
    let pods = 0;
    for (const { overlay, objects } of all) {
      for (const t of podTemplates(objects)) {
        pods++;
        const where = `${overlay}: ${t.owner}`;
        expect({
          where,
          hostNetwork: t.spec.hostNetwork,
          hostPID: t.spec.hostPID,
          hostIPC: t.spec.hostIPC,
        }).toEqual({
          where,
          hostNetwork: undefined,
          hostPID: undefined,
          hostIPC: undefined,
        });
        expect({ where, hostPath: (t.spec.volumes ?? []).filter((v: any) => v.hostPath) }).toEqual({
          where,
          hostPath: [],
        });
        expect({
          where,
          ports: t.spec.containers.flatMap((c: any) => c.ports ?? []).filter((p: any) => p.hostPort),
        }).toEqual({
          where,
          ports: [],
        });
        expect({ where, pod: t.spec.securityContext }).toEqual({
          where,
          pod: expect.objectContaining({
            runAsNonRoot: true,
            runAsUser: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          }),
        });
        // Only pods that call the API server get a token: the ones with their own ServiceAccount.
        if (!t.spec.serviceAccountName)
          expect({ where, automount: t.spec.automountServiceAccountToken }).toEqual({
            where,
            automount: false,
          });
      }
    }
    expect(pods).toBeGreaterThanOrEqual(3 * all.length);
  });

  it('every container: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped', () => {
    for (const { overlay, objects } of all) {
      for (const t of podTemplates(objects)) {
        for (const { where, container } of containersOf(t)) {
          const sc = container.securityContext ?? {};
          expect({ where: `${overlay}: ${where}`, sc }).toEqual({
            where: `${overlay}: ${where}`,
            sc: expect.objectContaining({
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
              capabilities: { drop: ['ALL'] },
            }),
          });
          expect(sc.privileged).not.toBe(true);
          expect(effective(t.spec, container, 'runAsNonRoot')).toBe(true);
          expect(effective(t.spec, container, 'runAsUser')).toBe(65532);
          expect(effective(t.spec, container, 'seccompProfile')).toEqual({ type: 'RuntimeDefault' });
          expect(container.imagePullPolicy).toBe('IfNotPresent');
          expect(container.image).not.toMatch(/:latest$|^[^:]+$/);
        }
      }
    }
  });

  it('every container requests and limits cpu and memory, requests within limits', () => {
    for (const { overlay, objects } of all) {
      for (const t of podTemplates(objects)) {
        for (const { where, container } of containersOf(t)) {
          const r = container.resources ?? {};
          for (const res of ['cpu', 'memory']) {
            const at = `${overlay}: ${where} ${res}`;
            expect({
              at,
              request: r.requests?.[res] !== undefined,
              limit: r.limits?.[res] !== undefined,
            }).toEqual({
              at,
              request: true,
              limit: true,
            });
            expect({ at, withinLimit: quantity(r.requests[res]) <= quantity(r.limits[res]) }).toEqual({
              at,
              withinLimit: true,
            });
          }
        }
      }
    }
  });

  it('every long-running container has liveness and readiness probes', () => {
    for (const { overlay, objects } of all) {
      for (const t of podTemplates(objects)) {
        if (t.object.kind === 'Job' || t.object.kind === 'CronJob') continue;
        for (const { where, container, init } of containersOf(t)) {
          if (init) continue;
          const at = `${overlay}: ${where}`;
          expect({ at, liveness: !!container.livenessProbe, readiness: !!container.readinessProbe }).toEqual({
            at,
            liveness: true,
            readiness: true,
          });
          // Our components serve /healthz and /readyz on the ops port (shared/ops-server.ts).
          if (container.args?.[0] && ['pubsub', 'webhook', 'reconciler'].includes(container.args[0])) {
            expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops' });
            expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops' });
            expect(container.ports.map((p: any) => p.name)).toContain('ops');
          }
        }
      }
    }
  });
});

describe('RBAC', () => {
  it('has no wildcard in verbs, resources, apiGroups or resourceNames, and no non-resource URLs', () => {
    let rules = 0;
    for (const { overlay, objects } of all) {
      for (const role of rbacObjects(objects).filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
        expect(role.aggregationRule).toBeUndefined();
        for (const rule of role.rules ?? []) {
          rules++;
          const where = `${overlay}: ${describeObject(role)}`;
          for (const field of ['verbs', 'resources', 'apiGroups', 'resourceNames'] as const) {
            expect({
              where,
              field,
              wildcard: (rule[field] ?? []).some((v: string) => v.includes('*')),
            }).toEqual({
              where,
              field,
              wildcard: false,
            });
          }
          expect({ where, nonResourceURLs: rule.nonResourceURLs }).toEqual({
            where,
            nonResourceURLs: undefined,
          });
          // escalate, bind, impersonate: never needed by a component.
          expect(rule.verbs).not.toEqual(expect.arrayContaining(['escalate']));
          expect(rule.verbs).not.toEqual(expect.arrayContaining(['bind']));
          expect(rule.verbs).not.toEqual(expect.arrayContaining(['impersonate']));
        }
      }
    }
    expect(rules).toBeGreaterThan(0);
  });

  it('binds each component’s roles to its own ServiceAccount only', () => {
    for (const { objects } of all) {
      for (const b of rbacObjects(objects).filter((o) => o.kind.endsWith('Binding'))) {
        const component = /^fleetiq-agones-(pubsub|webhook|reconciler)/.exec(b.roleRef.name)![1];
        expect(b.subjects).toEqual([
          { kind: 'ServiceAccount', name: `fleetiq-agones-${component}`, namespace: 'fleetiq-system' },
        ]);
      }
    }
  });
});
