# The classlink-operator image: built with Rust, run on distroless as a non-root user.
#
#   docker build -t registry.example.com/classlink-operator:0.1.0 .
#
# The same binary is the kubectl plugin when named kubectl-classlink: copy it out with
#   docker cp "$(docker create IMAGE)":/usr/local/bin/classlink-operator ~/.local/bin/kubectl-classlink
# (docs/operating.md, "The kubectl plugin").
#
# cc-debian12 rather than static: the binary links glibc (SQLite is compiled in, TLS is
# rustls, so nothing else is needed at run time).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin classlink-operator \
 && install -D -m 0755 target/release/classlink-operator /out/classlink-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/classlink-operator /usr/local/bin/classlink-operator
# nonroot: UID and GID 65532, as the Helm chart's securityContext expects.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/classlink-operator"]
CMD ["run"]
