# Multi-stage build: dependencies are compiled in their own layer (cargo-chef), so a code change
# rebuilds only Dealbridge's crates. Templates, static files and migrations are embedded in the binary.
# Linted in CI with hadolint (settings in .hadolint.yaml).
FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package dealbridge
COPY . .
RUN cargo build --release --locked --package dealbridge

FROM debian:bookworm-slim AS runtime
# A numeric user id, so orchestrators can check `runAsNonRoot` without reading /etc/passwd.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/dealbridge dealbridge
COPY --from=builder /src/target/release/dealbridge /usr/local/bin/dealbridge
USER 10001:10001
WORKDIR /var/lib/dealbridge
ENV DEALBRIDGE_LISTEN=0.0.0.0:8080 \
    DEALBRIDGE_LOG_FORMAT=json
EXPOSE 8080
# The image has no curl: the binary probes its own /healthz on the listen address. A worker-only
# container (`dealbridge worker`) serves no HTTP; its orchestrator disables this check.
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
  CMD ["dealbridge", "healthcheck"]
ENTRYPOINT ["dealbridge"]
CMD ["serve"]
