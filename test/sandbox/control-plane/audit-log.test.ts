// The real API server's audit log as the sandbox's request log: the requests of the installation's
// ServiceAccounts, each with who, what and the answer — including the ones RBAC refused.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  AuditLogReader,
  auditEventToEntry,
  serviceAccountAuditPolicy,
} from '../../../sandbox/control-plane/audit-log.js';
import type { RequestLogEntry } from '../../../sandbox/kube/request-log.js';
import { apiRequest, useControlPlane } from '../../helpers/control-plane.js';
import { waitFor } from '../../helpers/wait.js';

const cp = useControlPlane({ auditPolicy: serviceAccountAuditPolicy(['audited']) });

async function tokenOf(namespace: string, name: string): Promise<string> {
  await apiRequest(cp(), 'POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  await apiRequest(cp(), 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } });
  const tr = await apiRequest(cp(), 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {},
  });
  return tr.body.status.token;
}

describe('the audit log as a request log', () => {
  it("records the policy's ServiceAccounts' requests, refusals included, and nobody else's", async () => {
    const entries: RequestLogEntry[] = [];
    const reader = new AuditLogReader(cp().auditLogPath!, (e) => entries.push(e));
    const audited = await tokenOf('audited', 'component');
    const other = await tokenOf('elsewhere', 'component');
    expect(
      (await apiRequest(cp(), 'GET', '/api/v1/namespaces/kube-system/secrets', undefined, { token: audited }))
        .status,
    ).toBe(403);
    expect(
      (await apiRequest(cp(), 'GET', '/api/v1/namespaces/kube-system/secrets', undefined, { token: other }))
        .status,
    ).toBe(403);
    const refused = await waitFor('the refusal in the audit log', async () => {
      await reader.poll();
      return entries.find((e) => e.code === 403);
    });
    expect(refused).toMatchObject({
      user: 'system:serviceaccount:audited:component',
      verb: 'list',
      resource: 'secrets',
      namespace: 'kube-system',
      code: 403,
    });
    expect(refused.groups).toContain('system:serviceaccounts:audited');
    expect(entries.filter((e) => e.user.includes(':elsewhere:'))).toEqual([]);
    await reader.close();
  });
});

describe('reading the audit file', () => {
  it('hands over complete lines only, each once, and skips what is not a completed request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-'));
    const path = join(dir, 'audit.log');
    const entries: RequestLogEntry[] = [];
    const reader = new AuditLogReader(path, (e) => entries.push(e));
    await reader.poll(); // Not written yet: nothing, no error.
    const event = (stage: string, code: number) =>
      JSON.stringify({
        kind: 'Event',
        stage,
        verb: 'patch',
        user: { username: 'u', groups: ['g'] },
        objectRef: { resource: 'nodes', name: 'n1', apiGroup: '' },
        responseStatus: { code, message: 'no' },
        stageTimestamp: '2026-01-01T00:00:00.000000Z',
      });
    const complete = event('ResponseComplete', 403);
    appendFileSync(path, `${event('RequestReceived', 0)}\nnot json\n${complete.slice(0, 40)}`);
    await reader.poll();
    expect(entries).toEqual([]);
    appendFileSync(path, `${complete.slice(40)}\n`);
    await reader.poll();
    await reader.poll();
    expect(entries).toEqual([auditEventToEntry(complete)]);
    expect(entries[0]).toMatchObject({
      user: 'u',
      verb: 'patch',
      resource: 'nodes',
      name: 'n1',
      code: 403,
      message: 'no',
    });
    await reader.close();
    rmSync(dir, { recursive: true });
  });
});
