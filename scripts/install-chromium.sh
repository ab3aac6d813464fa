#!/usr/bin/env bash
# Install (when missing) Debian's Chromium for the browser tests of the KPI report, and print
# its executable path. Idempotent: safe to run before every test session. Needs root to install.
# The browser comes from Debian's packages: nothing is downloaded from a browser vendor's CDN.
set -euo pipefail

find_chromium() {
    command -v chromium || command -v chromium-browser || true
}

setup() {
    if [ -n "$(find_chromium)" ]; then
        return
    fi
    if [ "$(id -u)" != "0" ]; then
        echo "install-chromium: Chromium is not installed and this is not root; install the Debian package 'chromium'." >&2
        exit 1
    fi
    echo "install-chromium: installing Chromium (apt-get)"
    apt-get update -qq
    # A font, so that the charts' text renders on a minimal image.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
}

# Stdout carries only the path (the Makefile captures it): whatever the tools print goes to
# stderr, and nothing they start keeps the captured stdout open (stdin closed as well).
setup </dev/null >&2
CHROMIUM=$(find_chromium)
if [ -z "$CHROMIUM" ]; then
    echo "install-chromium: the package installed but no chromium executable is on PATH." >&2
    exit 1
fi
echo "$CHROMIUM"
