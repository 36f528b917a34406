#!/usr/bin/env bash
# Installs what the tests need beyond npm packages, so `npm test` passes on a fresh machine.
# - redis-server: tests start their own real Redis on a free loopback port.
# - kubectl: tests drive the Kubernetes emulator with the real kubectl.
# - the real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
#   kube-scheduler, kubectl of one release), built once from the Go modules pinned in testbed/
#   (scripts/build-testbed.sh; KUBEBUILDER_ASSETS to use binaries you have).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/build-testbed.sh" >/dev/null
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The tests need: ${missing[*]}. Install them with your package manager (Debian: apt-get install ${missing[*]})." >&2
  exit 1
fi
echo "Installing ${missing[*]} with apt-get (needed by the tests)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
