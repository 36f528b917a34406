#!/usr/bin/env bash
# Installs what the tests need beyond npm packages, so `npm test` passes on a fresh machine.
# - redis-server: tests start their own real Redis on a free loopback port.
# - kubectl: tests drive the Kubernetes emulator with the real kubectl.
# - promtool: the alert rules' unit tests (`promtool test rules`). It ships in Debian's `prometheus`
#   package, which would also install and start a Prometheus server: so the package is only
#   downloaded with apt-get and promtool unpacked from it into a cache directory
#   (${XDG_CACHE_HOME:-~/.cache}/fleetiq-agones/prometheus), where the tests look for it.
# - the real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
#   kube-scheduler, kubectl of one release), built once from the Go modules pinned in testbed/
#   (scripts/build-testbed.sh; KUBEBUILDER_ASSETS to use binaries you have).
# - helm, for the chart's tests, built once from the Go modules pinned in testbed/helm/
#   (scripts/build-helm.sh; HELM to use a helm binary you have).
set -euo pipefail
bash "$(dirname "$0")/build-testbed.sh" >/dev/null
bash "$(dirname "$0")/build-helm.sh" >/dev/null
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)

promtool_dir="${XDG_CACHE_HOME:-$HOME/.cache}/fleetiq-agones/prometheus"
need_promtool=0
if ! command -v promtool >/dev/null 2>&1 && [ -z "${PROMTOOL:-}" ] && [ ! -x "$promtool_dir/usr/bin/promtool" ]; then
  need_promtool=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_promtool -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  wanted=("${missing[@]}")
  [ $need_promtool -eq 1 ] && wanted+=(promtool)
  echo "The tests need: ${wanted[*]}. Install them with your package manager (Debian: apt-get install ${missing[*]}${missing[*]:+ }prometheus; promtool is in the prometheus package), or set PROMTOOL to a promtool binary." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} with apt-get (needed by the tests)..." >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $need_promtool -eq 1 ]; then
  echo "Unpacking promtool from Debian's prometheus package into $promtool_dir (needed by the tests)..." >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1)
  mkdir -p "$promtool_dir"
  dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
  install -D -m 0755 "$work/x/usr/bin/promtool" "$promtool_dir/usr/bin/promtool"
  "$promtool_dir/usr/bin/promtool" --version >/dev/null
fi
