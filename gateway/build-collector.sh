#!/usr/bin/env bash
# Build otelcol-gw, the otel-discord gateway Collector, from the pinned Go modules in
# gateway/collector (go.mod + go.sum are committed; versions: core v0.165.0 / v1.71.0,
# contrib filestorage v0.165.1).
#
# Usage: gateway/build-collector.sh [--force] [--tidy]
#   --force  rebuild even if the cached binary matches the sources
#   --tidy   run `go mod tidy` first (only when changing go.mod: it rewrites go.sum)
#
# Output: the binary at $OTELCOL_CACHE_DIR/otelcol-gw (default <repo>/.cache/otelcol, which
# is gitignored). The build is skipped when that binary exists and the hash of the sources,
# the Go version and this script matches the stamp written next to it. The last line on
# stdout is the binary's path; progress goes to stderr.
#
# Needs: Go (default /usr/local/go/bin/go, override with GO=...) and the Go module proxy as
# configured on the machine (`go env GOPROXY`). A cold build takes minutes on 2 cores.
set -euo pipefail

die() {
	echo "build-collector.sh: FAILED: $*" >&2
	exit 1
}
log() { echo "build-collector.sh: $*" >&2; }

force=0
tidy=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	--tidy) tidy=1 ;;
	-h | --help)
		sed -n '2,17p' "$0"
		exit 0
		;;
	*) die "unknown argument '$arg' (expected --force or --tidy)" ;;
	esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
src="$here/collector"
out_dir="${OTELCOL_CACHE_DIR:-$repo/.cache/otelcol}"
bin="$out_dir/otelcol-gw"
stamp="$bin.sources-sha256"

go_bin="${GO:-/usr/local/go/bin/go}"
if [[ ! -x "$go_bin" ]]; then
	go_bin="$(command -v go || true)"
fi
[[ -n "$go_bin" && -x "$go_bin" ]] || die "no Go toolchain: /usr/local/go/bin/go is missing and 'go' is not on PATH (set GO=/path/to/go; Go >= 1.26 is required)"

# Reproducible, self-contained builds: never fetch another toolchain, ignore any go.work
# above us, static binary (what ocb does), and keep go.mod/go.sum read-only unless --tidy.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"

go_version="$("$go_bin" env GOVERSION)" || die "'$go_bin env GOVERSION' did not run"
for f in go.mod go.sum main.go components.go; do
	[[ -f "$src/$f" ]] || die "missing source file $src/$f"
done

sources_hash() {
	{
		echo "$go_version"
		for f in go.mod go.sum main.go components.go; do
			echo "== $f"
			cat "$src/$f"
		done
		echo "== build-collector.sh"
		cat "$0"
	} | sha256sum | cut -d' ' -f1
}

mkdir -p "$out_dir" || die "cannot create $out_dir"

# Two test runs may race to build: the second waits for the first and then reuses its binary.
exec 9>"$out_dir/.build.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9 || die "cannot lock $out_dir/.build.lock"
fi

if [[ $tidy -eq 1 ]]; then
	log "go mod tidy (rewrites go.sum)"
	(cd "$src" && GOFLAGS=-buildvcs=false "$go_bin" mod tidy) || die "go mod tidy failed (is the Go module proxy reachable? go env GOPROXY = $("$go_bin" env GOPROXY))"
fi

want="$(sources_hash)"
if [[ $force -eq 0 && -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	log "up to date: $bin"
	echo "$bin"
	exit 0
fi

log "building $bin with $go_version (GOPROXY=$("$go_bin" env GOPROXY))"
started=$(date +%s)

(cd "$src" && "$go_bin" mod download) ||
	die "go mod download failed: the Go module proxy ($("$go_bin" env GOPROXY)) is unreachable or does not serve a pinned module; see the go error above"

tmp="$out_dir/.otelcol-gw.$$"
trap 'rm -f "$tmp"' EXIT
# -trimpath -ldflags="-s -w" is exactly what ocb uses; grpcnotrace as in the official distributions.
(cd "$src" && "$go_bin" build -trimpath -ldflags="-s -w" -tags grpcnotrace -o "$tmp" .) ||
	die "go build failed (see the compiler output above); if go.sum is incomplete, run: $0 --tidy"

# A binary that cannot list the components the gateway config uses is not a usable build.
components="$("$tmp" components)" || die "the built binary does not run: $tmp components"
for c in otlp memory_limiter batch otlp_http debug file_storage; do
	grep -Eq "^[[:space:]-]*name: $c\$" <<<"$components" || die "component '$c' is missing from the build"
done

mv -f "$tmp" "$bin"
echo "$want" >"$stamp"
log "built in $(($(date +%s) - started)) s: $bin ($(du -h "$bin" | cut -f1))"
echo "$bin"
