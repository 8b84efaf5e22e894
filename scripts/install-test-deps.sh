#!/bin/sh
# Installs the real components the integration tests run, when missing:
# the proxies, Redis and Chromium.
# Debian/Ubuntu only; on a fresh machine the package lists are empty, so
# apt-get update runs first. Nothing is installed when everything is there.
set -eu

# binary:package
need=""
for pair in nginx:nginx caddy:caddy haproxy:haproxy redis-server:redis-server chromium:chromium; do
    bin=${pair%%:*}
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/bin/$bin" ]; then
        need="$need ${pair#*:}"
    fi
done
[ -z "$need" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: missing:$need (no apt-get here; install them yourself)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-test-deps: missing:$need and not root; integration tests will skip (or fail under CI)" >&2
        exit 0
    fi
fi
echo "install-test-deps: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
