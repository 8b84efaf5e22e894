#!/bin/sh
# Builds Traefik for the integration tests when it is not installed.
# Traefik is not a Debian package and `go install` refuses its module
# (replace directives), so its module tree is downloaded with the go
# command and built in a writable copy. v3.0.0 is the release whose
# dependencies the Go module proxy serves here (v3.7.x needs modules that
# are not served). Takes about 4 minutes on 2 cores the first time; the
# binary is kept in $(go env GOPATH)/bin, so later runs skip this.
set -eu
VERSION=v3.0.0
GOBIN_DIR="$(go env GOPATH)/bin"
BIN="$GOBIN_DIR/traefik"
if command -v traefik >/dev/null 2>&1 || [ -x "$BIN" ]; then
    exit 0
fi
echo "install-traefik: building traefik $VERSION into $BIN (first run only)" >&2
dir="$(go mod download -json "github.com/traefik/traefik/v3@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "install-traefik: could not download the traefik module" >&2
    exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -R "$dir/." "$tmp/"
chmod -R u+w "$tmp"
mkdir -p "$GOBIN_DIR"
(cd "$tmp" && GOFLAGS=-mod=mod go build -trimpath -o "$BIN.tmp" ./cmd/traefik)
mv "$BIN.tmp" "$BIN"
