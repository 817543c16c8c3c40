#!/usr/bin/env bash
# The Debian packages One-Day Setup needs besides Python (README, "Setting up"). Idempotent.
#
# As root (as CI runs it): installs whatever is missing (apt-get update first, only then).
# Otherwise, or with --check: names what is missing and the command that installs it.
# Exit status: 0 when everything required is there, 1 when something required is missing,
# 2 when installing it failed.
set -euo pipefail

usage() {
    echo "usage: $0 [--check]   (--check: only report, never install)" >&2
    exit 64
}

check_only=0
case "${1:-}" in
    "") ;;
    --check) check_only=1 ;;
    *) usage ;;
esac

# One line per package: name | what shows it works (a command on PATH, or a file glob) | why.
REQUIRED=(
    "postgresql|/usr/lib/postgresql/*/bin/initdb|PostgreSQL server binaries: the store tests start a real PostgreSQL (tests/pg.py)"
    "poppler-utils|pdftotext|pdftotext and pdftoppm, to read and look at the PDFs the service generates"
    "fonts-wqy-microhei|/usr/share/fonts/truetype/wqy/wqy-microhei.ttc|WenQuanYi Micro Hei, the CJK TrueType font (with Latin) embedded in every generated PDF (documents/fonts.py)"
    "chromium|/usr/bin/chromium|Chromium, the headless browser the Web UI test drives with Playwright (tests/browser/); never a browser download"
    # Only promtool is needed; on a machine run by systemd the package also enables a Prometheus
    # service on :9090 (`systemctl disable --now prometheus` if unwanted).
    "prometheus|promtool|promtool, to check and unit-test the alerting rules (ops/prometheus, tests/ops/test_prometheus_rules.py)"
)

probe_ok() {
    local probe=$1
    if [[ $probe == /* ]]; then
        compgen -G "$probe" >/dev/null
    else
        command -v "$probe" >/dev/null 2>&1
    fi
}

is_present() {
    local package=$1 probe=$2
    if command -v dpkg-query >/dev/null 2>&1; then
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || return 1
    fi
    probe_ok "$probe"
}

missing_packages() {
    local entry package probe
    for entry in "${REQUIRED[@]}"; do
        IFS='|' read -r package probe _ <<<"$entry"
        is_present "$package" "$probe" || echo "$package"
    done
}

mapfile -t missing < <(missing_packages)

if ((${#missing[@]} == 0)); then
    echo "setup-system: all required system packages are present (${#REQUIRED[@]} checked)"
    exit 0
fi

if ((check_only)) || [[ $(id -u) -ne 0 ]]; then
    echo "setup-system: these required Debian packages are missing:" >&2
    for entry in "${REQUIRED[@]}"; do
        IFS='|' read -r package _ why <<<"$entry"
        for m in "${missing[@]}"; do
            [[ $m == "$package" ]] && echo "  $package  - $why" >&2
        done
    done
    echo "install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q || ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "setup-system: apt-get failed to install: ${missing[*]}" >&2
    exit 2
fi

mapfile -t still_missing < <(missing_packages)
if ((${#still_missing[@]} > 0)); then
    echo "setup-system: still missing after apt-get install: ${still_missing[*]}" >&2
    exit 2
fi
echo "setup-system: installed ${missing[*]}"
