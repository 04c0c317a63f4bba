#!/usr/bin/env bash
# Install what tests/test_preview_browser.py drives: Debian's headless Chromium and its
# WebDriver (packages `chromium` and `chromium-driver`), and the Python `selenium` package in
# the project's virtualenv. Called by `./dev test`; each part is installed only when missing,
# so a second run does nothing and needs no network.
#
# Usage: scripts/install-browser.sh
#
# No browser is downloaded at run time: the test names /usr/bin/chromium and
# /usr/bin/chromedriver itself, so Selenium Manager never fetches a browser or driver.
# Needs root (or sudo) for apt-get on a machine without Chromium.
set -euo pipefail

log() { echo "install-browser.sh: $*" >&2; }
die() {
	echo "install-browser.sh: FAILED: $*" >&2
	exit 1
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${OTEL_DISCORD_VENV:-$repo/.venv}"
python="$venv/bin/python"
[[ -x "$python" ]] || die "no virtualenv at $venv (run ./dev setup first)"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]})); then
	if [[ $(id -u) -eq 0 ]]; then
		sudo=()
	elif command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		die "${missing[*]} missing and not root (install them: apt-get install chromium chromium-driver)"
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "${missing[*]} missing and no apt-get here: install Chromium and its chromedriver, then rerun"
	log "installing ${missing[*]} with apt-get"
	# Liberation for text and Noto Color Emoji for the emoji in notices, so screenshots of the
	# preview look as they do on a desktop (without them text still renders, emoji as boxes).
	${sudo[@]+"${sudo[@]}"} apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq --no-install-recommends \
		chromium chromium-driver fonts-liberation fonts-noto-color-emoji >/dev/null ||
		die "apt-get install chromium chromium-driver failed"
fi

if ! "$python" -c "import selenium" >/dev/null 2>&1; then
	log "installing selenium into $venv"
	"$python" -m pip install -q "selenium>=4.20" || die "pip install selenium failed"
fi

log "ready: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version 2>/dev/null | head -1 | cut -d' ' -f1-2), selenium $("$python" -c 'import selenium; print(selenium.__version__)')"
