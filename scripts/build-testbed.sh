#!/usr/bin/env bash
# Builds the real Kubernetes control plane the end-to-end tests run on (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, and a kubectl of the same release) from the Go modules pinned in testbed/go.mod, into
# .testbed/bin/<release>/. A folder that is complete (it holds the stamp written last) is used as
# it is, so a second run builds nothing; a half-built one (no stamp) is removed and built again.
# Concurrent runs wait for each other on a lock. With KUBEBUILDER_ASSETS pointing at a folder that
# holds all five binaries (the envtest convention), nothing is built at all.
#
# Prints the folder holding the binaries on its last line of stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  missing=()
  for b in "${binaries[@]}"; do [ -x "$KUBEBUILDER_ASSETS/$b" ] || missing+=("$b"); done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks ${missing[*]}: building the pinned control plane instead." >&2
fi

release="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2 }' "$root/testbed/go.mod")"
[ -n "$release" ] || { echo "testbed/go.mod does not pin k8s.io/kubernetes" >&2; exit 1; }
# The key covers the pins and this script, so binaries built from other pins or flags are never reused.
key="$(cat "$root/testbed/go.mod" "$root/testbed/go.sum" "$0" | sha256sum | cut -c1-12)"
dest="$root/.testbed/bin/kubernetes-$release-$key"
stamp="$dest/.complete"
if [ -f "$stamp" ]; then echo "$dest"; exit 0; fi

# Go's own installer puts it in /usr/local/go/bin, which a non-login shell may not have on PATH.
go_fallback="${GO_FALLBACK_DIR:-/usr/local/go/bin}"
if ! command -v go >/dev/null 2>&1 && [ -x "$go_fallback/go" ]; then export PATH="$go_fallback:$PATH"; fi
if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
The end-to-end tests run on the real Kubernetes control plane ($release), built from Go modules,
and this machine has no Go toolchain. Either install Go 1.24 or later (https://go.dev/doc/install;
then the tests build it once, in about five minutes on two cores), or set KUBEBUILDER_ASSETS to a
folder holding ${binaries[*]} (e.g. from setup-envtest).
MSG
  exit 1
fi

mkdir -p "$root/.testbed/bin"
exec 9>"$root/.testbed/build.lock"
if ! flock -n 9; then
  echo "Another build of the control plane is running; waiting for it..." >&2
  flock 9
fi
if [ -f "$stamp" ]; then echo "$dest"; exit 0; fi
rm -rf "$dest" "$dest.partial"
mkdir -p "$dest.partial"

echo "Building the Kubernetes $release control plane from Go modules (once; cached in $dest)..." >&2
start=$(date +%s)
cd "$root/testbed"
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
go build -trimpath -ldflags="-s -w" -o "$dest.partial/etcd" go.etcd.io/etcd/server/v3
# The version a release build stamps in, so the server reports what it is (`kubectl version`).
minor="$(echo "$release" | cut -d. -f2)"
v=k8s.io/component-base/version
stamp_flags="-X $v.gitVersion=$release -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go build -trimpath -ldflags="-s -w $stamp_flags" -o "$dest.partial/$b" "k8s.io/kubernetes/cmd/$b"
done
"$dest.partial/kube-apiserver" --version >&2
date -u +%FT%TZ >"$dest.partial/.complete"
mv "$dest.partial" "$dest"
# Builds from earlier pins are of no further use.
find "$root/.testbed/bin" -mindepth 1 -maxdepth 1 -name 'kubernetes-*' ! -path "$dest" -exec rm -rf {} +
echo "Built in $(($(date +%s) - start)) s." >&2
echo "$dest"
