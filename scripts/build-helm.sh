#!/usr/bin/env bash
# Builds Helm, pinned in testbed/helm/go.mod, for the chart's tests (helm lint, helm template) into
# .testbed/bin/helm-<version>-<key>/helm, once (scripts/lib/cached-go-build.sh: stamp, lock,
# half-built folders rebuilt). With HELM naming an executable, nothing is built and that one is used.
#
# Prints the path of the helm binary on its last line of stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib/cached-go-build.sh
source "$root/scripts/lib/cached-go-build.sh"

if [ -n "${HELM:-}" ]; then
  if [ -x "$HELM" ]; then
    echo "$HELM"
    exit 0
  fi
  echo "HELM=$HELM is not an executable file: building the pinned Helm instead." >&2
fi

module="$root/testbed/helm"
# `require helm.sh/helm/v4 vX` on one line, or inside a require block.
version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "helm.sh/helm/v4" && $(i + 1) ~ /^v/) print $(i + 1) }' "$module/go.mod")"
[ -n "$version" ] || { echo "testbed/helm/go.mod does not pin helm.sh/helm/v4" >&2; exit 1; }
key="$(cache_key "$module/go.mod" "$module/go.sum" "$0")"
dest="$root/.testbed/bin/helm-$version-$key"

GO_MISSING_MESSAGE="The chart's tests run Helm $version, built from Go modules, and this machine has no Go
toolchain. Either install Go $(awk '$1 == "go" { print $2 }' "$module/go.mod") or later (https://go.dev/doc/install),
or set HELM to a helm $version binary."

build() {
  cd "$module"
  # The version Helm's own release build stamps in, so `helm version` says what it is.
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath \
    -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version" -o "$1/helm" helm.sh/helm/v4/cmd/helm
  "$1/helm" version >&2
}
cached_build "$dest" "$root/.testbed/helm-build.lock" helm- "Building Helm $version from Go modules" build
echo "$dest/helm"
