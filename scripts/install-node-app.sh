#!/usr/bin/env bash
# Install the node_modules of tests/apps/node-app (an Express app instrumented by the
# OpenTelemetry JS SDK) from its committed package-lock.json with `npm ci`, into a cache
# directory, never into the source tree. Called by `./dev test` and by the Node.js test itself.
#
# Usage: scripts/install-node-app.sh [--force]
#   --force  reinstall even if the cached node_modules match the lock file
#
# Output: node_modules at $NODE_APP_CACHE_DIR/node_modules (default <repo>/.cache/node-app, which
# is gitignored); the app runs with NODE_PATH pointing there. The install is skipped when the
# stamp next to it matches the hash of package.json, package-lock.json, the Node.js version
# and this script. The last line on stdout is the node_modules path; progress goes to stderr.
#
# Needs: Node.js >= 20.6 with npm, and the npm registry as configured on the machine
# (`npm config get registry`) for a cold install. Without `node` it does nothing and exits 0
# (the test skips itself then, and only then).
set -euo pipefail

log() { echo "install-node-app.sh: $*" >&2; }
die() {
	echo "install-node-app.sh: FAILED: $*" >&2
	exit 1
}

force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,17p' "$0"
		exit 0
		;;
	*) die "unknown argument '$arg' (expected --force)" ;;
	esac
done

if ! command -v node >/dev/null 2>&1; then
	log "no node on PATH: nothing to install (the Node.js test will be skipped)"
	exit 0
fi
command -v npm >/dev/null 2>&1 || die "node is installed but npm is not (install npm, it ships with Node.js)"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
src="$repo/tests/apps/node-app"
out_dir="${NODE_APP_CACHE_DIR:-$repo/.cache/node-app}"
modules="$out_dir/node_modules"
stamp="$out_dir/node_modules.sources-sha256"

for f in package.json package-lock.json; do
	[[ -f "$src/$f" ]] || die "missing $src/$f"
done

sources_hash() {
	{
		node --version
		for f in package.json package-lock.json; do
			echo "== $f"
			cat "$src/$f"
		done
		echo "== install-node-app.sh"
		cat "$0"
	} | sha256sum | cut -d' ' -f1
}

mkdir -p "$out_dir" || die "cannot create $out_dir"

# Two test runs may race to install: the second waits for the first and then reuses its result.
exec 9>"$out_dir/.install.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9 || die "cannot lock $out_dir/.install.lock"
fi

want="$(sources_hash)"
if [[ $force -eq 0 && -d "$modules" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	log "up to date: $modules"
	echo "$modules"
	exit 0
fi

log "npm ci into $out_dir ($(node --version), registry $(npm config get registry))"
started=$(date +%s)
rm -f "$stamp"
cp "$src/package.json" "$src/package-lock.json" "$out_dir/"
# --ignore-scripts: nothing the app needs runs an install script (protobufjs's postinstall only
# prints a version warning), and a test setup should not run code from the registry.
(cd "$out_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
	die "npm ci failed (is the npm registry reachable? npm config get registry = $(npm config get registry))"

# An install that cannot load the SDK is not a usable install.
NODE_PATH="$modules" node -e "require('@opentelemetry/sdk-node'); require('express')" ||
	die "the installed modules do not load: $modules"

echo "$want" >"$stamp"
log "installed in $(($(date +%s) - started)) s: $modules ($(du -sh "$modules" | cut -f1))"
echo "$modules"
