# Multi-stage build: a static binary on a distroless, non-root base.
# Run with a read-only root filesystem; only /state is written.
#   docker build -t gateway .
#   docker run --read-only -p 127.0.0.1:18780:18780 -v gateway-state:/state gateway
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# docker build --build-arg VERSION=v1.2.0 --build-arg COMMIT=$(git rev-parse --short=12 HEAD) .
ARG VERSION=""
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X gateway/buildinfo.version=${VERSION} -X gateway/buildinfo.commit=${COMMIT}" -o /out/gateway ./cmd/gateway \
 && mkdir -p /out/state && chmod 0700 /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /usr/local/bin/gateway
COPY --from=build --chown=65532:65532 /out/state /state
ENV GATEWAY_STATE_DIR=/state
VOLUME ["/state"]
USER 65532:65532
EXPOSE 18780
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s CMD ["/usr/local/bin/gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gateway"]
# Inside a container "loopback" would be unreachable; token auth stays on.
# Publish the port on the host's loopback (-p 127.0.0.1:18780:18780) unless
# a proxy in front needs more.
CMD ["run", "--bind", "lan"]
