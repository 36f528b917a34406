# Sourced by scripts/build-testbed.sh and scripts/build-helm.sh: the test bed's tools are built from
# Go modules pinned in testbed/, once, into .testbed/bin/<name>-<version>-<key>/, and reused after.
# - The key covers the pins and the scripts that build them, so nothing built from other pins or
#   other flags is ever reused.
# - A folder is complete only when it holds the stamp written last; a half-built one (a build that
#   was killed) is removed and built again.
# - Concurrent runs (two test files, two checkouts sharing .testbed) wait for each other on a lock.
# - Once a build succeeds, the builds of earlier pins of the same tool are removed.

_cached_go_build_lib="${BASH_SOURCE[0]}"

# cache_key FILE...: 12 hex digits over the given files and this library.
cache_key() {
  cat "$@" "$_cached_go_build_lib" | sha256sum | cut -c1-12
}

# Go's own installer puts it in /usr/local/go/bin, which a non-login shell may not have on PATH.
# Prints GO_MISSING_MESSAGE to stderr and returns 1 when there is no Go toolchain at all.
find_go() {
  local fallback="${GO_FALLBACK_DIR:-/usr/local/go/bin}"
  if ! command -v go >/dev/null 2>&1 && [ -x "$fallback/go" ]; then export PATH="$fallback:$PATH"; fi
  if ! command -v go >/dev/null 2>&1; then
    printf '%s\n' "${GO_MISSING_MESSAGE:-This build needs a Go toolchain (https://go.dev/doc/install).}" >&2
    return 1
  fi
}

# cached_build DEST LOCK PREFIX DESCRIPTION BUILD_FUNCTION
# Makes DEST (a folder) exist complete: returns at once when it is; otherwise takes LOCK, calls
# BUILD_FUNCTION with the folder to fill (DEST.partial), stamps it and moves it into place, then
# removes the sibling folders named PREFIX* (earlier pins). DESCRIPTION says what is being built.
cached_build() {
  local dest="$1" lock="$2" prefix="$3" description="$4" build="$5"
  local stamp="$dest/.complete"
  [ -f "$stamp" ] && return 0
  find_go || return 1
  mkdir -p "$(dirname "$dest")"
  exec 9>"$lock"
  if ! flock -n 9; then
    echo "Another build is running ($lock); waiting for it..." >&2
    flock 9
  fi
  if [ -f "$stamp" ]; then
    exec 9>&-
    return 0
  fi
  rm -rf "$dest" "$dest.partial"
  mkdir -p "$dest.partial"
  echo "$description (once; cached in $dest)..." >&2
  local start
  start=$(date +%s)
  "$build" "$dest.partial"
  date -u +%FT%TZ >"$dest.partial/.complete"
  mv "$dest.partial" "$dest"
  find "$(dirname "$dest")" -mindepth 1 -maxdepth 1 -name "$prefix*" ! -path "$dest" -exec rm -rf {} +
  echo "Built in $(($(date +%s) - start)) s." >&2
  exec 9>&-
}
