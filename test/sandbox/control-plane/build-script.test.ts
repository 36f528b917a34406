// scripts/build-testbed.sh, run in a copy of the repository's layout with a stand-in `go` that
// records its calls and writes stub binaries: it builds once, reuses a complete folder, rebuilds a
// half-built one, lets concurrent runs share one build, takes KUBEBUILDER_ASSETS when it is
// complete, and tells a machine without Go what to install.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'];
let root: string;
let fakeBin: string;

// The stand-in for `go build ... -o OUT PKG`: records the call, waits a little (so concurrent runs
// overlap), and writes an executable that answers --version.
const FAKE_GO = `#!/bin/bash
echo "$*" >> "$FAKE_GO_CALLS"
sleep 0.3
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
printf '#!/bin/sh\\necho Kubernetes v1.34.4\\n' > "$out"
chmod +x "$out"
`;

function run(env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(root, 'scripts', 'build-testbed.sh')], {
      env: { HOME: root, FAKE_GO_CALLS: join(root, 'calls'), ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
const withGo = () => ({ PATH: `${fakeBin}:/usr/bin:/bin` });
const calls = () =>
  existsSync(join(root, 'calls')) ? readFileSync(join(root, 'calls'), 'utf8').trim().split('\n') : [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'build-testbed-test-'));
  mkdirSync(join(root, 'scripts'));
  mkdirSync(join(root, 'testbed'));
  copyFileSync('scripts/build-testbed.sh', join(root, 'scripts', 'build-testbed.sh'));
  mkdirSync(join(root, 'scripts', 'lib'));
  copyFileSync('scripts/lib/cached-go-build.sh', join(root, 'scripts', 'lib', 'cached-go-build.sh'));
  copyFileSync('testbed/go.mod', join(root, 'testbed', 'go.mod'));
  copyFileSync('testbed/go.sum', join(root, 'testbed', 'go.sum'));
  fakeBin = join(root, 'fake-bin');
  mkdirSync(fakeBin);
  writeFileSync(join(fakeBin, 'go'), FAKE_GO);
  chmodSync(join(fakeBin, 'go'), 0o755);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('scripts/build-testbed.sh', () => {
  it('builds the five binaries of the pinned release once, then reuses them', async () => {
    const first = await run(withGo());
    expect(first.code).toBe(0);
    const dir = first.out.trim().split('\n').pop()!;
    expect(dir).toMatch(/\.testbed\/bin\/kubernetes-v1\.34\.4-[0-9a-f]{12}$/);
    for (const b of BINARIES) expect(existsSync(join(dir, b))).toBe(true);
    expect(calls()).toHaveLength(5);
    expect(calls().join('\n')).toContain('-X k8s.io/component-base/version.gitVersion=v1.34.4');

    const second = await run(withGo());
    expect(second.code).toBe(0);
    expect(second.out.trim()).toBe(dir);
    expect(calls()).toHaveLength(5);
  });

  it('rebuilds a half-built folder (no completion stamp) and removes a leftover partial one', async () => {
    const dir = (await run(withGo())).out.trim();
    rmSync(join(dir, '.complete'));
    mkdirSync(`${dir}.partial`);
    writeFileSync(`${dir}.partial/junk`, '');
    const again = await run(withGo());
    expect(again.code).toBe(0);
    expect(calls()).toHaveLength(10);
    expect(existsSync(join(dir, '.complete'))).toBe(true);
    expect(existsSync(`${dir}.partial`)).toBe(false);
  });

  it('lets concurrent runs share one build', async () => {
    const [a, b] = await Promise.all([run(withGo()), run(withGo())]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.out.trim().split('\n').pop()).toBe(b.out.trim().split('\n').pop());
    expect(calls()).toHaveLength(5);
    expect(`${a.err}${b.err}`).toContain('Another build is running');
  });

  it('uses KUBEBUILDER_ASSETS when it holds all five binaries, and builds when it lacks one', async () => {
    const assets = join(root, 'assets');
    mkdirSync(assets);
    for (const b of BINARIES) {
      writeFileSync(join(assets, b), '#!/bin/sh\n');
      chmodSync(join(assets, b), 0o755);
    }
    const used = await run({ ...withGo(), KUBEBUILDER_ASSETS: assets });
    expect(used.code).toBe(0);
    expect(used.out.trim()).toBe(assets);
    expect(calls()).toHaveLength(0);

    rmSync(join(assets, 'kube-scheduler'));
    const built = await run({ ...withGo(), KUBEBUILDER_ASSETS: assets });
    expect(built.code).toBe(0);
    expect(built.err).toContain(`KUBEBUILDER_ASSETS=${assets} lacks kube-scheduler`);
    expect(calls()).toHaveLength(5);
  });

  it("finds Go in its installer's folder when PATH lacks it", async () => {
    const res = await run({ PATH: '/usr/bin:/bin', GO_FALLBACK_DIR: fakeBin });
    expect(res.code).toBe(0);
    expect(calls()).toHaveLength(5);
  });

  it('tells a machine without Go what to install, and builds nothing', async () => {
    const res = await run({ PATH: '/usr/bin:/bin', GO_FALLBACK_DIR: join(root, 'no-go-here') });
    expect(res.code).toBe(1);
    expect(res.err).toContain('no Go toolchain');
    expect(res.err).toContain('Go 1.24 or later');
    expect(res.err).toContain('KUBEBUILDER_ASSETS');
    expect(
      existsSync(join(root, '.testbed', 'bin')) ? readdirSync(join(root, '.testbed', 'bin')) : [],
    ).toEqual([]);
  });
});
