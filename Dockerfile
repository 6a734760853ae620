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
COPY --from=build /out/crossdeploy /usr/local/bin/crossdeploy
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/crossdeploy"]
CMD ["run", "--log-json"]
