# syntax=docker/dockerfile:1
# Todo Suite's images: one per service, all from this file and from one release build of the
# workspace. Build one with its target, named as the service (the Helm chart's image name):
#
#   docker build --target todo-api -t <registry>/todo-api:<tag> .
#
# Targets: todo-api, gateway, recurring, notification, audit, sync. Each image holds its one
# binary on a distroless base (glibc and CA certificates, no shell), runs as the non-root user
# 65532, and exposes its app port (gRPC; the gateway's also serves gRPC-web, HTTP and /ws) and the
# admin port 9464 (/metrics, /healthz, /readyz). The gateway's image also carries the built
# frontend, frontend/dist, when the build context has it (the deploy workflow builds it first;
# without it the gateway serves its "not built" page).
# Dependencies are built in their own layer (cargo-chef), so a change to our code rebuilds only
# our crates. deploy/tests/test_dockerfile.py checks this file against the workspace.

ARG RUST_VERSION=1.95.0
ARG CARGO_CHEF_VERSION=0.1.78

FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# The workspace's sources: only what cargo needs, so edits elsewhere keep the build cached.
FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY libs libs
COPY services services
COPY bench bench
COPY faults faults
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# Nothing may need protoc: libs/proto compiles the protos with protox.
ENV PROTOC=/bin/false CARGO_TERM_COLOR=never
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json \
      --bin todo-api --bin gateway --bin recurring --bin notification --bin audit --bin sync
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY libs libs
COPY services services
COPY bench bench
COPY faults faults
RUN cargo build --release --locked \
      --bin todo-api --bin gateway --bin recurring --bin notification --bin audit --bin sync \
 && mkdir -p /out \
 && cp target/release/todo-api target/release/gateway target/release/recurring \
       target/release/notification target/release/audit target/release/sync /out/

# frontend/dist if the context has it, else an empty directory (COPY cannot copy a path that
# may not exist).
FROM busybox:1.37 AS frontend
RUN --mount=type=bind,target=/context \
    mkdir -p /out/dist \
 && if [ -d /context/frontend/dist ]; then cp -R /context/frontend/dist/. /out/dist/; fi

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
# Set by the deploy workflow: the commit, and the repository's URL.
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.vendor="Todo Suite" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
WORKDIR /app
ENV LOG_FORMAT=json
USER 65532:65532

FROM runtime AS todo-api
LABEL org.opencontainers.image.title="todo-api" \
      org.opencontainers.image.description="Todo Suite's TaskService: tasks in the Dapr state store, events through the outbox."
COPY --from=build /out/todo-api /usr/local/bin/todo-api
EXPOSE 7001 9464
ENTRYPOINT ["/usr/local/bin/todo-api"]

FROM runtime AS gateway
LABEL org.opencontainers.image.title="gateway" \
      org.opencontainers.image.description="Todo Suite's public edge: gRPC, gRPC-web, reflection, health, WebSocket and the frontend on one port."
COPY --from=build /out/gateway /usr/local/bin/gateway
COPY --from=frontend /out/dist /app/frontend/dist
ENV TODO_FRONTEND_DIR=/app/frontend/dist
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM runtime AS recurring
LABEL org.opencontainers.image.title="recurring" \
      org.opencontainers.image.description="Todo Suite's recurring: the next occurrence of completed recurring tasks."
COPY --from=build /out/recurring /usr/local/bin/recurring
EXPOSE 7002 9464
ENTRYPOINT ["/usr/local/bin/recurring"]

FROM runtime AS notification
LABEL org.opencontainers.image.title="notification" \
      org.opencontainers.image.description="Todo Suite's reminders on Dapr jobs, and NotificationService."
COPY --from=build /out/notification /usr/local/bin/notification
EXPOSE 7003 9464
ENTRYPOINT ["/usr/local/bin/notification"]

FROM runtime AS audit
LABEL org.opencontainers.image.title="audit" \
      org.opencontainers.image.description="Todo Suite's audit_logs and AuditService."
COPY --from=build /out/audit /usr/local/bin/audit
EXPOSE 7004 9464
ENTRYPOINT ["/usr/local/bin/audit"]

FROM runtime AS sync
LABEL org.opencontainers.image.title="sync" \
      org.opencontainers.image.description="Todo Suite's SyncService: live fan-out of task events and reminders."
COPY --from=build /out/sync /usr/local/bin/sync
EXPOSE 7005 9464
ENTRYPOINT ["/usr/local/bin/sync"]
