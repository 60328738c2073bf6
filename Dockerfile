# syntax=docker/dockerfile:1
# The single `fff` binary in a small non-root image; the role is the command:
#   docker run --rm fff:local gateway --listen 0.0.0.0:50051
# Dependencies sit in their own layer, rebuilt only when a manifest, Cargo.lock, a build script
# or a .proto changes (deploy/docker/skeleton.sh).
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS planner
WORKDIR /src
COPY . .
RUN sh deploy/docker/skeleton.sh /src /skeleton

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY --from=planner /skeleton/ ./
RUN cargo build --release --locked -p fff-cli
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY crates crates
COPY services services
# COPY keeps the build context's mtimes, which may be older than the stub build above; touch the
# real sources so cargo rebuilds the workspace crates instead of shipping the stubs.
RUN find crates services -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p fff-cli \
    && install -D -m 0755 target/release/fff /out/fff

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: the system trust store for TLS to Binance. Debian's security updates, not a
# pinned version, are what keep it current (hence DL3008 is ignored).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/fff --create-home \
        --shell /usr/sbin/nologin fff
COPY --from=builder /out/fff /usr/local/bin/fff
COPY config/fff.example.toml /etc/fff/fff.example.toml
# The working directory is writable: without FFF_AUTH_TOKEN a role keeps its token in ./.fff/.
WORKDIR /var/lib/fff
USER 10001:10001
# Containers listen on every interface; FFF_* keys are read only by the service roles.
ENV FFF_SERVER__HOST=0.0.0.0
# gRPC of the roles (50051-50055), the simulator (8765), /metrics (9464, telemetry.metrics_listen).
EXPOSE 50051 50052 50053 50054 50055 8765 9464
ENTRYPOINT ["fff"]
CMD ["--help"]
