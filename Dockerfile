# syntax=docker/dockerfile:1
#
# The agtoken container image: `agtoken serve` on distroless (glibc + libgcc + CA certificates,
# no shell), as user nonroot (65532), ready for a read-only root filesystem.
#
#   docker build -t agtoken .
#   chown 65532 app-certificate && chmod 0400 app-certificate
#   docker run --read-only -p 8080:8080 \
#     -e APP_ID=… -e APP_CERTIFICATE_FILE=/run/secrets/app-certificate \
#     -v "$PWD/app-certificate:/run/secrets/app-certificate:ro" agtoken
#
# Secrets come only at run time (environment, or *_FILE from a mounted secret); nothing secret
# is a build argument or lands in a layer. The bases are pinned by tag; pin them by digest too
# for reproducible builds (README "Deploy": this Dockerfile was not built where it was written,
# which has no registry; scripts/build-image.sh builds the same runtime stage offline).
#
# The runtime stage (from "FROM … AS runtime" to the end) is also what scripts/build-image.sh
# builds: keep its COPY --from=builder line and write nothing after it that needs the builder.

ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when a manifest or the lock file
# changes. Stub sources stand in for the crates' own.
COPY Cargo.toml Cargo.lock ./
COPY crates/agtoken/Cargo.toml crates/agtoken/
COPY crates/agtoken-server/Cargo.toml crates/agtoken-server/
COPY crates/agtoken-cli/Cargo.toml crates/agtoken-cli/
RUN mkdir -p crates/agtoken/src crates/agtoken/benches crates/agtoken-server/src crates/agtoken-cli/src \
 && touch crates/agtoken/src/lib.rs crates/agtoken/benches/tokens.rs crates/agtoken-server/src/lib.rs \
 && echo 'fn main() {}' > crates/agtoken-cli/src/main.rs \
 && cargo build --release --locked -p agtoken-cli \
 && rm -rf crates/agtoken/src crates/agtoken/benches crates/agtoken-server/src crates/agtoken-cli/src
# Then the sources (the library's docs include README.md, the server embeds web/). Touch them:
# COPY keeps their modification times, which may be older than the stubs' build.
COPY README.md ./
COPY web web
COPY crates crates
RUN find crates -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p agtoken-cli \
 && mkdir -p /out && cp target/release/agtoken /out/agtoken \
 && /out/agtoken --version

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=builder /out/agtoken /usr/local/bin/agtoken
USER 65532:65532
WORKDIR /home/nonroot
# Docker stops a container with SIGTERM and, 10 s later by default, SIGKILL. The server drains
# for at most AGTOKEN_SHUTDOWN_GRACE seconds (30 by default) and then exits 0: 7 s here keeps a
# `docker stop` under load at exit code 0. Raise it together with the platform's stop timeout
# (docker run --stop-timeout, compose stop_grace_period, Kubernetes terminationGracePeriodSeconds).
ENV AGTOKEN_SHUTDOWN_GRACE=7
EXPOSE 8080
STOPSIGNAL SIGTERM
# `agtoken healthcheck` reads the same PORT/SERVER_PORT/AGTOKEN_HOST/AGTOKEN_CONFIG/TLS settings
# as `serve`: GET /readyz on loopback, exit 0 or 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/agtoken", "healthcheck", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/agtoken"]
CMD ["serve"]
