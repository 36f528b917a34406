#!/usr/bin/env bash
# Builds the real Kubernetes control plane the end-to-end tests run on (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, and a kubectl of the same release) from the Go modules pinned in testbed/go.mod, into
# .testbed/bin/kubernetes-<release>-<key>/, once (scripts/lib/cached-go-build.sh: a complete folder
# holds the stamp written last; a half-built one is removed and built again; concurrent runs wait for
# each other on a lock). With KUBEBUILDER_ASSETS pointing at a folder that holds all five binaries
# (the envtest convention), nothing is built at all.
#
# Prints the folder holding the binaries on its last line of stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib/cached-go-build.sh
source "$root/scripts/lib/cached-go-build.sh"
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
key="$(cache_key "$root/testbed/go.mod" "$root/testbed/go.sum" "$0")"
dest="$root/.testbed/bin/kubernetes-$release-$key"

GO_MISSING_MESSAGE="The end-to-end tests run on the real Kubernetes control plane ($release), built from Go modules,
and this machine has no Go toolchain. Either install Go 1.24 or later (https://go.dev/doc/install;
then the tests build it once, in about five minutes on two cores), or set KUBEBUILDER_ASSETS to a
folder holding ${binaries[*]} (e.g. from setup-envtest)."

build() {
  cd "$root/testbed"
  export GOFLAGS="${GOFLAGS:-} -mod=readonly"
  go build -trimpath -ldflags="-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3
  # The version a release build stamps in, so the server reports what it is (`kubectl version`).
  local minor v stamp_flags b
  minor="$(echo "$release" | cut -d. -f2)"
  v=k8s.io/component-base/version
  stamp_flags="-X $v.gitVersion=$release -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    go build -trimpath -ldflags="-s -w $stamp_flags" -o "$1/$b" "k8s.io/kubernetes/cmd/$b"
  done
  "$1/kube-apiserver" --version >&2
}
# The lock is the one this script has always taken, so checkouts of any age wait for each other.
cached_build "$dest" "$root/.testbed/build.lock" kubernetes- \
  "Building the Kubernetes $release control plane from Go modules" build
echo "$dest"
