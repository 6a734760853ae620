# syntax=docker/dockerfile:1
# crossdeploy operator image: built with the Rust toolchain, run from
# distroless/cc (glibc + libgcc, no shell, no package manager) as uid 65532.
#   docker build -t REGISTRY/crossdeploy:0.1.0 .
# See docs/install.md.

# Same toolchain as development; bookworm's glibc matches distroless cc-debian12.
FROM rust:1.95-bookworm AS build
# The native code (ring, aws-lc-sys on x86-64/arm64 Linux) needs only the
# image's C compiler.
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin crossdeploy \
 && install -D -m 0755 target/release/crossdeploy /out/crossdeploy

FROM gcr.io/distroless/cc-debian12:nonroot
# `make image` builds this same stage without Docker (scripts/image.sh): it
# reads these lines through scripts/image-spec.py, which refuses any
# instruction it does not understand. Keep them to COPY/USER/EXPOSE/ENV/
# LABEL/ENTRYPOINT/CMD/WORKDIR.
COPY --from=build /out/crossdeploy /crossdeploy
LABEL org.opencontainers.image.title="crossdeploy" \
      org.opencontainers.image.description="Kubernetes operator that deploys applications into other AWS accounts with CodeDeploy" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
# The TLS roots are the system's (rustls-native-certs): this bundle.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/crossdeploy"]
CMD ["run", "--log-json"]
