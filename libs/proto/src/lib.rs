//! `todo-proto`: the generated Rust code for our contracts.
//!
//! - [`todo::v1`]: the `todo.v1` API and events (`proto/todo/v1`), with tonic clients and servers.
//! - [`json`]: canonical proto3 JSON for `todo.v1` messages (events travel as JSON).
//! - [`status`]: `InvalidArgument` with `google.rpc.BadRequest` field violations, built once
//!   ([`status::bad_request`] for any validation error that names its [`status::InvalidFields`]).
//! - [`dapr::proto`]: the subset of Dapr's v1.18.3 API we use (`proto/dapr`), wire-identical to
//!   Dapr's; `tests/wire_compat.rs` proves it against the official `dapr` crate.
//! - [`TODO_FILE_DESCRIPTOR_SET`] and [`DAPR_FILE_DESCRIPTOR_SET`]: encoded descriptor sets for
//!   gRPC reflection.
//!
//! Servers are generated with default stubs: an RPC a service does not implement answers
//! `Unimplemented`.

pub mod json;
pub mod status;

/// The `todo` protobuf package family.
pub mod todo {
    /// `todo.v1`: tasks, accounts, sync, audit, notifications and events.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/todo.v1.rs"));
    }
}

/// The `dapr.proto` protobuf package family.
pub mod dapr {
    /// `dapr.proto.*`.
    pub mod proto {
        /// `dapr.proto.common.v1`.
        pub mod common {
            /// `dapr.proto.common.v1`: shared Dapr messages.
            #[allow(missing_docs, clippy::all)]
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/dapr.proto.common.v1.rs"));
            }
        }
        /// `dapr.proto.runtime.v1`.
        pub mod runtime {
            /// `dapr.proto.runtime.v1`: the Dapr service and the AppCallback services.
            #[allow(missing_docs, clippy::all)]
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/dapr.proto.runtime.v1.rs"));
            }
        }
    }
}

/// The encoded `FileDescriptorSet` of `todo.v1`, for gRPC reflection.
pub const TODO_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/todo_descriptor.bin"));

/// The encoded `FileDescriptorSet` of our Dapr subset.
pub const DAPR_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/dapr_descriptor.bin"));
