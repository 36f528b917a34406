// overlays/eks takes the account-specific values from an aws.env the operator writes beside it, and
// refuses to build without one: nothing is applied with the placeholder account (111122223333) or
// region that components/eks carries.
import { copyFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { eksOverlayCopy, findObject, MANIFESTS_DIR, renderKustomization } from './render.js';

const OVERLAY = resolve(MANIFESTS_DIR, 'overlays/eks');

const OPERATOR_ENV = {
  AWS_REGION: 'eu-central-1',
  PUBSUB_ROLE_ARN: 'arn:aws:iam::444455556666:role/platform/fleetiq-pubsub',
  RECONCILER_ROLE_ARN: 'arn:aws:iam::444455556666:role/platform/fleetiq-reconciler',
};

const settingsOf = (objects: Awaited<ReturnType<typeof renderKustomization>>) =>
  objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name!.startsWith('fleetiq-agones-settings-'))!;

describe('overlays/eks', () => {
  it('ships no aws.env (the operator writes it), only the example', () => {
    expect(existsSync(join(OVERLAY, 'aws.env'))).toBe(false);
    expect(existsSync(join(OVERLAY, 'aws.env.example'))).toBe(true);
  });

  it('refuses to build without aws.env, naming the file', async () => {
    await expect(renderKustomization(OVERLAY)).rejects.toThrow(/aws\.env/);
  });

  it('refuses to build from the example copied unchanged, naming the missing setting', async () => {
    const dir = eksOverlayCopy({});
    copyFileSync(join(OVERLAY, 'aws.env.example'), join(dir, 'aws.env'));
    await expect(renderKustomization(dir)).rejects.toThrow(/data\.AWS_REGION.* is missing/);
  });

  it.each(Object.keys(OPERATOR_ENV))('refuses to build when aws.env lacks %s', async (missing) => {
    const env = Object.fromEntries(Object.entries(OPERATOR_ENV).filter(([k]) => k !== missing));
    await expect(renderKustomization(eksOverlayCopy(env))).rejects.toThrow(
      new RegExp(`data\\.${missing}.* is missing`),
    );
  });

  it('puts the region and role ARNs of aws.env where they belong, and nothing of the placeholders', async () => {
    const objects = await renderKustomization(eksOverlayCopy(OPERATOR_ENV));
    const text = JSON.stringify(objects);
    expect(text).not.toMatch(/111122223333/);
    expect(settingsOf(objects).data.AWS_REGION).toBe('eu-central-1');
    for (const c of ['pubsub', 'reconciler'] as const)
      expect(
        findObject(objects, 'ServiceAccount', `fleetiq-agones-${c}`).metadata.annotations?.[
          'eks.amazonaws.com/role-arn'
        ],
      ).toBe(OPERATOR_ENV[c === 'pubsub' ? 'PUBSUB_ROLE_ARN' : 'RECONCILER_ROLE_ARN']);
    // aws.env feeds the build only: it is not applied.
    expect(objects.filter((o) => o.metadata.name === 'fleetiq-agones-aws')).toEqual([]);
    expect(
      findObject(objects, 'ServiceAccount', 'fleetiq-agones-webhook').metadata.annotations,
    ).toBeUndefined();
  });

  it('names the settings ConfigMap after the region it carries, so a new region rolls the pods', async () => {
    const a = settingsOf(await renderKustomization(eksOverlayCopy(OPERATOR_ENV)));
    const b = settingsOf(
      await renderKustomization(eksOverlayCopy({ ...OPERATOR_ENV, AWS_REGION: 'ap-northeast-1' })),
    );
    expect(a.metadata.name).not.toBe(b.metadata.name);
    expect(b.data.AWS_REGION).toBe('ap-northeast-1');
  });
});
