// A kubeconfig per identity: the emulator's URL, its CA, and a bearer token of that identity.
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

export interface KubeconfigParams {
  server: string;
  caPem: string;
  token: string;
  /** Names the user and context entries (e.g. the identity's username). */
  user: string;
  namespace?: string;
  /** Names the cluster entry (default `emulator`). */
  cluster?: string;
}

export function renderKubeconfig(p: KubeconfigParams): string {
  const userName = p.user.replace(/[^A-Za-z0-9_.:-]/g, '-');
  const cluster = p.cluster ?? 'emulator';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster,
        cluster: { server: p.server, 'certificate-authority-data': Buffer.from(p.caPem).toString('base64') },
      },
    ],
    users: [{ name: userName, user: { token: p.token } }],
    contexts: [
      {
        name: `${userName}@${cluster}`,
        context: { cluster, user: userName, ...(p.namespace ? { namespace: p.namespace } : {}) },
      },
    ],
    'current-context': `${userName}@${cluster}`,
    preferences: {},
  });
}

export async function writeKubeconfigFile(path: string, p: KubeconfigParams): Promise<void> {
  await writeFile(path, renderKubeconfig(p), { mode: 0o600 });
}
