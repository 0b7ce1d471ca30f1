# syntax=docker/dockerfile:1
# omsd and omsd-sim in one image, used by docker-compose.yml for both the `omsd` and the `sim`
# service. Build: `docker build -t omsd:local .`
#   docker run --rm omsd:local omsd check-config --config /etc/omsd/compose.toml
#   docker run --rm -p 127.0.0.1:8080:8080 -e OMSD_CONTROL_LISTEN=0.0.0.0:8080 omsd:local
#     (the default configuration: embedded simulator, SQLite under /var/lib/omsd/var)

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The two binaries live in different workspace packages, hence `-p` for each.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p omsd -p exchange-sim --bin omsd --bin omsd-sim \
    && install -D -m 0755 -t /out target/release/omsd target/release/omsd-sim

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --uid 10001 --home-dir /var/lib/omsd --create-home \
        --shell /usr/sbin/nologin omsd
COPY --from=builder /out/omsd /out/omsd-sim /usr/local/bin/
COPY config/ /etc/omsd/
USER omsd
WORKDIR /var/lib/omsd
ENV OMSD_CONFIG=/etc/omsd/default.toml
# control port, metrics, simulator
EXPOSE 8080 9898 18080
STOPSIGNAL SIGTERM
CMD ["omsd", "run"]
