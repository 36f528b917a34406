// The IAM policies grant each component exactly the GameLift actions its code sends (read from the
// SDK commands it imports), on the game server group only, and the IRSA trust policies let exactly its
// ServiceAccount assume the role.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { findObject, MANIFESTS_DIR, NAMESPACE, renderOverlay, REPO_ROOT } from './render.js';

const readJson = (name: string) => JSON.parse(readFileSync(resolve(MANIFESTS_DIR, 'iam', name), 'utf8'));

/** The GameLift commands a folder's code imports from @aws-sdk/client-gamelift (type-only imports excluded). */
function gameLiftCommands(dir: string): Set<string> {
  const out = new Set<string>();
  const root = resolve(REPO_ROOT, dir);
  for (const file of readdirSync(root, { recursive: true }) as string[]) {
    if (!file.endsWith('.ts')) continue;
    const text = readFileSync(join(root, file), 'utf8');
    for (const m of text.matchAll(/import\s*(type\s+)?\{([^}]*)\}\s*from\s*'@aws-sdk\/client-gamelift'/g)) {
      if (m[1]) continue;
      for (const part of m[2]!.split(',')) {
        const name = part.trim();
        if (!name.startsWith('type ') && /^[A-Za-z]+Command$/.test(name))
          out.add(name.replace(/Command$/, ''));
      }
    }
  }
  return out;
}

const actionsOf = (policy: any) => new Set<string>(policy.Statement.flatMap((s: any) => [s.Action].flat()));

let eks: KubeObject[];
beforeAll(async () => {
  eks = await renderOverlay('eks');
});

describe('IAM policies', () => {
  it.each([
    ['pubsub', 'pubsub-policy.json'],
    ['reconciler', 'reconciler-policy.json'],
  ])('%s: exactly the GameLift actions its code calls', (component, file) => {
    const calls = gameLiftCommands(component);
    expect(calls.size).toBeGreaterThan(0);
    expect([...actionsOf(readJson(file))].sort()).toEqual([...calls].map((c) => `gamelift:${c}`).sort());
  });

  it('the webhook and the certificate code call no AWS API (no role for them)', () => {
    expect(gameLiftCommands('webhook').size + gameLiftCommands('certs').size).toBe(0);
    for (const dir of ['webhook', 'certs']) {
      const root = resolve(REPO_ROOT, dir);
      for (const file of readdirSync(root) as string[])
        expect(readFileSync(join(root, file), 'utf8')).not.toMatch(/from '@aws-sdk\//);
    }
  });

  it.each(['pubsub-policy.json', 'reconciler-policy.json'])(
    '%s: allows only, on the game server group fleetiqconfig names, in the eks region and account',
    (file) => {
      const policy = readJson(file);
      expect(policy.Version).toBe('2012-10-17');
      const group = JSON.parse(findObject(eks, 'ConfigMap', 'fleetiqconfig').data['fleetiq.conf'])
        .GameServerGroups[0];
      const settings = eks.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name!.startsWith('fleetiq-agones-settings'),
      )!;
      const account = /^arn:aws:iam::(\d{12}):/.exec(
        findObject(eks, 'ServiceAccount', 'fleetiq-agones-pubsub').metadata.annotations![
          'eks.amazonaws.com/role-arn'
        ]!,
      )![1];
      for (const statement of policy.Statement) {
        expect(statement.Effect).toBe('Allow');
        expect(statement.Condition).toBeUndefined();
        for (const action of [statement.Action].flat()) expect(action).toMatch(/^gamelift:[A-Z][A-Za-z]+$/);
        expect([statement.Resource].flat()).toEqual([
          `arn:aws:gamelift:${settings.data.AWS_REGION}:${account}:gameservergroup/${group}`,
        ]);
      }
    },
  );

  it.each(['pubsub', 'reconciler'])(
    '%s trust policy: only its ServiceAccount, through the cluster’s OIDC provider',
    (component) => {
      const trust = readJson(`${component}-trust-policy.json`);
      expect(trust.Statement).toHaveLength(1);
      const [statement] = trust.Statement;
      expect(statement).toMatchObject({ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity' });
      const provider = /^arn:aws:iam::\d{12}:oidc-provider\/(.+)$/.exec(statement.Principal.Federated)![1];
      const sa = findObject(eks, 'ServiceAccount', `fleetiq-agones-${component}`);
      expect(statement.Condition.StringEquals).toEqual({
        [`${provider}:sub`]: `system:serviceaccount:${NAMESPACE}:${sa.metadata.name}`,
        [`${provider}:aud`]: 'sts.amazonaws.com',
      });
      // The role the ServiceAccount names is the one this policy is for (same account, component's name).
      const role = sa.metadata.annotations!['eks.amazonaws.com/role-arn']!;
      expect(role.split(':')[4]).toBe(statement.Principal.Federated.split(':')[4]);
      expect(role.endsWith(`:role/fleetiq-agones-${component}`)).toBe(true);
    },
  );
});
