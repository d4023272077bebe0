//! Compiles `proto/todo/v1` and `proto/dapr` with `protox` (pure Rust, so no `protoc` is needed),
//! generates tonic clients and servers with default stubs, and writes the descriptor sets that
//! gRPC reflection, proto3 JSON (`json.rs`) and the wire tests read.

use std::{error::Error, path::PathBuf};

use prost::Message;

const TODO_PROTOS: &[&str] = &[
    "todo/v1/task.proto",
    "todo/v1/task_service.proto",
    "todo/v1/auth_service.proto",
    "todo/v1/events.proto",
    "todo/v1/sync_service.proto",
    "todo/v1/audit_service.proto",
    "todo/v1/notification_service.proto",
];

const DAPR_PROTOS: &[&str] = &[
    "dapr/proto/common/v1/common.proto",
    "dapr/proto/runtime/v1/appcallback.proto",
    "dapr/proto/runtime/v1/dapr.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    // Read when the script runs, not baked in when it compiles: two checkouts that share a
    // target directory share this script's binary.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", proto_root.display());

    // todo.v1: messages implement `prost::Name`, so `json` can find their descriptors.
    let todo_fds = protox::compile(TODO_PROTOS, [&proto_root])?;
    std::fs::write(
        out_dir.join("todo_descriptor.bin"),
        todo_fds.encode_to_vec(),
    )?;
    let mut todo_config = prost_build::Config::new();
    todo_config.enable_type_names();
    tonic_prost_build::configure()
        .generate_default_stubs(true)
        .compile_fds_with_config(todo_fds, todo_config)?;

    // Dapr: exactly as the official `dapr` crate generates it.
    let dapr_fds = protox::compile(DAPR_PROTOS, [proto_root.join("dapr")])?;
    std::fs::write(
        out_dir.join("dapr_descriptor.bin"),
        dapr_fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .generate_default_stubs(true)
        .compile_fds(dapr_fds)?;
    Ok(())
}
