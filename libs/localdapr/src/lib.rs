//! `localdapr`: an embedded runtime that speaks Dapr's gRPC API, so the suite runs and is tested
//! on one machine with no daprd, Docker or Kubernetes. Apps cannot tell it from Dapr v1.18.3:
//! where `shared/reference/dapr.md` gives a status code, default, quirk or envelope field,
//! localdapr does the same, and its tests name the section they check.
//!
//! - [`runtime`]: [`LocalDapr`] — one database, the components, and a sidecar per app instance.
//! - [`sidecar`]: the `Dapr` service of one app, its API token, and connecting the app.
//! - `state`: state stores, transactions and the outbox (§5).
//! - [`pubsub`]: the durable topic log, CloudEvent envelopes and delivery (§2, §4).
//! - [`jobs`]: the job scheduler (§3).
//! - `proxy`: service invocation in proxy mode (§6).
//! - `secrets`, `metadata`: the local file secret store and `GetMetadata` (§11).
//! - [`components`]: the Component, Subscription and Resiliency YAML under
//!   `dapr-components/local/`.
//! - [`db`]: the SQLite database (WAL) everything lives in, under `.localdapr/`, locked to one
//!   process.
//! - [`runner`]: `localdapr run -f dapr.yaml` — the apps of a Dapr multi-app run file, each
//!   with random API tokens (`tokens.json` in the data directory) and dying with the runner.
//!
//! The `localdapr` binary (`src/main.rs`) wraps [`runner`], or serves one sidecar
//! (`localdapr sidecar`).

pub mod app;
pub mod components;
pub mod db;
pub mod duration;
pub mod jobs;
pub mod metadata;
mod proxy;
pub mod pubsub;
pub mod runner;
pub mod runtime;
mod secrets;
pub mod sidecar;
mod state;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use components::Resources;
pub use runtime::{
    AppSpec, HealthCheckSpec, LocalDapr, LocalDaprConfig, SidecarHandle, StartError,
};
