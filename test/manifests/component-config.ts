// Reads a rendered container's configuration the way the component itself does at start: its env
// (values, downward API, ConfigMap and Secret keys resolved as the kubelet would), its args through
// the component's own commander command, mounted ConfigMaps written to a temporary directory, and the
// component's own parser (resolvePubsubOptions, webhookConfigFromOptions, parseReconcilerConfig).
// A setting the component would reject at start fails here instead of in a cluster.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { resolvePubsubOptions, registerPubsubCommand, type PubsubFlags } from '../../pubsub/cli.js';
import { parseReconcilerConfig } from '../../reconciler/config.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { registerWebhookCommand, webhookConfigFromOptions } from '../../webhook/cli.js';
import { templateOf, type PodTemplate } from './inspect.js';
import { NAMESPACE } from './render.js';

/** Stand-ins for the Secrets the operator creates before applying the eks overlay (see the install guide). */
export const SAMPLE_OPERATOR_SECRETS: Record<string, Record<string, string>> = {
  'fleetiq-agones-redis': {
    url: 'rediss://:s3cr3t-t0ken@master.fleetiq.abc123.usw2.cache.amazonaws.com:6379',
  },
  'fleetiq-agones-status-signing': { secret: 'c2lnbmluZy1rZXktZm9yLXRlc3RzLW9ubHktMzItYnl0ZXMhIQ' },
};

export const SAMPLE_POD = {
  name: 'fleetiq-agones-x-7d9f8-abcde',
  nodeName: 'ip-10-0-12-34.us-west-2.compute.internal',
};

/** The container's environment as the kubelet would give it. */
export function containerEnv(objects: KubeObject[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      if (String(e.value).includes('$('))
        throw new Error(`${e.name}: $(VAR) expansion is not resolved by this test`);
      env[e.name] = String(e.value);
      continue;
    }
    const from = e.valueFrom ?? {};
    if (from.fieldRef) {
      const field: string = from.fieldRef.fieldPath;
      const value =
        field === 'metadata.name'
          ? SAMPLE_POD.name
          : field === 'metadata.namespace'
            ? NAMESPACE
            : field === 'spec.nodeName'
              ? SAMPLE_POD.nodeName
              : undefined;
      if (value === undefined) throw new Error(`${e.name}: unsupported fieldRef ${field}`);
      env[e.name] = value;
    } else if (from.configMapKeyRef) {
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapKeyRef.name);
      const value = cm?.data?.[from.configMapKeyRef.key];
      if (value === undefined)
        throw new Error(
          `${e.name}: ConfigMap key ${from.configMapKeyRef.name}/${from.configMapKeyRef.key} missing`,
        );
      env[e.name] = value;
    } else if (from.secretKeyRef) {
      const { name, key } = from.secretKeyRef;
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === name);
      const value = secret
        ? Buffer.from(secret.data?.[key] ?? '', 'base64').toString() || secret.stringData?.[key]
        : SAMPLE_OPERATOR_SECRETS[name]?.[key];
      if (value === undefined) throw new Error(`${e.name}: Secret key ${name}/${key} unknown`);
      env[e.name] = value;
    } else {
      throw new Error(`${e.name}: unsupported env source ${JSON.stringify(from)}`);
    }
  }
  return env;
}

/**
 * Writes the ConfigMap volumes the container mounts into a temporary directory and returns a function
 * that maps an in-container path to the written file.
 */
export function materializeMounts(
  objects: KubeObject[],
  template: PodTemplate,
  container: any,
): (path: string) => string {
  const root = mkdtempSync(join(tmpdir(), 'fleetiq-manifests-'));
  const mounts: { mountPath: string; dir: string }[] = [];
  for (const m of container.volumeMounts ?? []) {
    const volume = (template.spec.volumes ?? []).find((v: any) => v.name === m.name);
    if (!volume?.configMap) continue;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap.name);
    if (!cm) throw new Error(`ConfigMap ${volume.configMap.name} not rendered`);
    const dir = join(root, m.name);
    mkdirSync(dir, { recursive: true });
    for (const [key, value] of Object.entries(cm.data ?? {})) writeFileSync(join(dir, key), String(value));
    mounts.push({ mountPath: m.mountPath.replace(/\/$/, ''), dir });
  }
  return (path) => {
    const mount = mounts.find((m) => path.startsWith(`${m.mountPath}/`));
    if (!mount) throw new Error(`${path} is not in a mounted ConfigMap`);
    return join(mount.dir, path.slice(mount.mountPath.length + 1));
  };
}

/** Parses `args` with a component's real command, with `env` as the process environment; returns the options. */
function parseCommand(
  register: (program: Command) => Command,
  args: string[],
  env: Record<string, string>,
): Record<string, any> {
  const program = new Command().exitOverride();
  const command = register(program);
  command.exitOverride();
  let captured: Record<string, any> | undefined;
  command.action((opts: Record<string, any>) => {
    captured = opts;
  });
  const saved = { ...process.env };
  // Only these variables: whatever the test process has must not leak into the component's view.
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, env);
  try {
    program.parse(args, { from: 'user' });
  } finally {
    for (const k of Object.keys(process.env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  if (!captured) throw new Error(`${args[0]}: the command did not run`);
  return captured;
}

export function pubsubSettings(objects: KubeObject[]) {
  const template = templateOf(objects, 'pubsub');
  const container = template.spec.containers[0];
  const env = containerEnv(objects, container);
  const flags = parseCommand(registerPubsubCommand, container.args, env) as PubsubFlags;
  const hostPath = materializeMounts(objects, template, container);
  const options = resolvePubsubOptions({ ...flags, config: hostPath(String(flags.config)) }, env, () => {
    throw new Error('no other file is mounted');
  });
  return { container, env, flags, options };
}

export function webhookSettings(objects: KubeObject[]) {
  const container = templateOf(objects, 'webhook').spec.containers[0];
  const env = containerEnv(objects, container);
  const opts = parseCommand(registerWebhookCommand, container.args, env);
  return { container, env, config: webhookConfigFromOptions(opts) };
}

export function reconcilerSettings(objects: KubeObject[]) {
  const container = templateOf(objects, 'reconciler').spec.containers[0];
  const env = containerEnv(objects, container);
  return { container, env, config: parseReconcilerConfig(env, {}) };
}
