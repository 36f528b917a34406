// scripts/build-helm.sh and scripts/build-testbed.sh share scripts/lib/cached-go-build.sh: a tool is
// built once into .testbed/bin/<name>-<version>-<key>/, reused while its stamp is there, built again
// when a build was cut short, built once when two runs race, and earlier pins are removed. Run here in
// a copy of the scripts and pins with a stand-in `go` that records its calls and writes small
// executables, so no real build happens.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../manifests/render.js';

const scratch = mkdtempSync(join(tmpdir(), 'fleetiq-build-scripts-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let repo: string;
let fakeGoDir: string;
let goLog: string;

/** A `go` that logs each build and writes an executable answering --version / version. */
const FAKE_GO = `#!/bin/sh
out=""
while [ $# -gt 0 ]; do
  if [ "$1" = "-o" ]; then out="$2"; shift; fi
  shift
done
echo "build $out" >> "$GO_LOG"
sleep "\${FAKE_GO_SLEEP:-0}"
printf '#!/bin/sh\\necho fake\\n' > "$out"
chmod +x "$out"
`;

beforeEach(() => {
  repo = mkdtempSync(join(scratch, 'repo-'));
  for (const p of ['scripts/build-helm.sh', 'scripts/build-testbed.sh', 'scripts/lib/cached-go-build.sh'])
    cpSync(join(REPO_ROOT, p), join(repo, p), { recursive: true });
  for (const p of ['testbed/go.mod', 'testbed/go.sum', 'testbed/helm/go.mod', 'testbed/helm/go.sum'])
    cpSync(join(REPO_ROOT, p), join(repo, p));
  fakeGoDir = join(repo, 'fake-go');
  mkdirSync(fakeGoDir);
  writeFileSync(join(fakeGoDir, 'go'), FAKE_GO);
  chmodSync(join(fakeGoDir, 'go'), 0o755);
  goLog = join(repo, 'go.log');
});

const env = (extra: Record<string, string> = {}) => ({
  PATH: `${fakeGoDir}:/usr/bin:/bin`,
  GO_LOG: goLog,
  GO_FALLBACK_DIR: '/nonexistent',
  HOME: repo,
  ...extra,
});

function run(script: string, extra: Record<string, string> = {}) {
  const r = spawnSync('bash', [join(repo, 'scripts', script)], { env: env(extra), encoding: 'utf8' });
  return { code: r.status, out: r.stdout.trim().split('\n').pop() ?? '', stderr: r.stderr };
}

const builds = () =>
  existsSync(goLog) ? readFileSync(goLog, 'utf8').trim().split('\n').filter(Boolean) : [];
const binDir = () => join(repo, '.testbed', 'bin');

describe('scripts/build-helm.sh', () => {
  it('builds once into helm-<version>-<key>, then reuses it', () => {
    const first = run('build-helm.sh');
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/\/\.testbed\/bin\/helm-v4\.3\.2-[0-9a-f]{12}\/helm$/);
    expect(existsSync(join(first.out, '..', '.complete'))).toBe(true);
    expect(builds()).toHaveLength(1);
    const second = run('build-helm.sh');
    expect(second).toMatchObject({ code: 0, out: first.out });
    expect(builds()).toHaveLength(1);
  });

  it('builds again what a killed build left half done', () => {
    const first = run('build-helm.sh');
    rmSync(join(first.out, '..', '.complete'));
    mkdirSync(`${join(first.out, '..')}.partial`, { recursive: true });
    expect(run('build-helm.sh')).toMatchObject({ code: 0, out: first.out });
    expect(builds()).toHaveLength(2);
    expect(existsSync(`${join(first.out, '..')}.partial`)).toBe(false);
  });

  it('builds once when two runs race (the second waits on the lock)', async () => {
    // The stand-in build takes a second, so the two runs overlap; whichever takes the lock second
    // must find the stamp and build nothing, whatever the order.
    const start = () =>
      new Promise<number>((resolve) =>
        spawn('bash', [join(repo, 'scripts', 'build-helm.sh')], {
          env: env({ FAKE_GO_SLEEP: '1' }),
          stdio: 'ignore',
        }).on('close', (code) => resolve(code ?? -1)),
      );
    expect(await Promise.all([start(), start()])).toEqual([0, 0]);
    expect(builds()).toHaveLength(1);
  });

  it('removes the builds of earlier pins once the new one is complete', () => {
    const old = join(binDir(), 'helm-v4.0.0-000000000000');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, '.complete'), '');
    run('build-helm.sh');
    expect(readdirSync(binDir()).filter((d) => d.startsWith('helm-'))).toHaveLength(1);
    expect(existsSync(old)).toBe(false);
  });

  it('uses HELM when it names an executable, and builds nothing', () => {
    const helm = join(repo, 'my-helm');
    writeFileSync(helm, '#!/bin/sh\n');
    chmodSync(helm, 0o755);
    expect(run('build-helm.sh', { HELM: helm })).toMatchObject({ code: 0, out: helm });
    expect(builds()).toHaveLength(0);
  });

  it('without Go (and without a build), says what to install or set', () => {
    const r = run('build-helm.sh', { PATH: '/usr/bin:/bin' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no Go\s+toolchain/);
    expect(r.stderr).toContain('set HELM to a helm v4.3.2 binary');
  });
});

describe('scripts/build-testbed.sh (same library)', () => {
  it('builds the five control plane binaries once, and keeps other tools’ builds', () => {
    const helm = run('build-helm.sh').out;
    const first = run('build-testbed.sh');
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/\/\.testbed\/bin\/kubernetes-v1\.\d+\.\d+-[0-9a-f]{12}$/);
    expect(readdirSync(first.out).sort()).toEqual(
      ['.complete', 'etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'].sort(),
    );
    expect(run('build-testbed.sh').out).toBe(first.out);
    expect(builds()).toHaveLength(1 + 5);
    expect(existsSync(helm)).toBe(true);
  });

  it('uses KUBEBUILDER_ASSETS when it holds all five binaries', () => {
    const assets = join(repo, 'assets');
    mkdirSync(assets);
    for (const b of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl']) {
      writeFileSync(join(assets, b), '#!/bin/sh\n');
      chmodSync(join(assets, b), 0o755);
    }
    expect(run('build-testbed.sh', { KUBEBUILDER_ASSETS: assets })).toMatchObject({ code: 0, out: assets });
    expect(builds()).toHaveLength(0);
  });
});
