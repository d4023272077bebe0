//! `localdapr`: an embedded runtime that speaks Dapr's gRPC API, so the suite runs and is tested
//! on one machine with no daprd, Docker or Kubernetes. Apps cannot tell it from Dapr v1.18.3:
//! where `shared/reference/dapr.md` gives a status code, default, quirk or envelope field,
//! localdapr does the same, and its tests name the section they check.
//!
//! The API: [`LocalDapr`] starts a runtime ([`LocalDaprConfig`], [`Resources`]) and serves a
//! sidecar per app instance ([`AppSpec`] → [`SidecarHandle`]); [`runner`] runs the apps of a
//! Dapr multi-app run file; [`components`] reads the YAML resources; [`db`] is the database,
//! which tests read through [`LocalDapr::runtime`]; `testsuite` (feature) starts all of it for
//! other crates' tests.
//!
//! Inside:
//! - `runtime`: [`LocalDapr`] — one database, the components, the pub/sub engine, the job
//!   scheduler, and a sidecar per app instance.
//! - `sidecar`: the `Dapr` service of one app, its API token, and connecting the app; `app`:
//!   the app instances and their `AppCallback` clients; `http_api`: its HTTP port
//!   (`DAPR_HTTP_PORT`), daprd's two health endpoints only.
//! - `state`: state stores, transactions and the outbox (§5).
//! - `pubsub`: the durable topic log, CloudEvent envelopes and delivery (§2, §4).
//! - `jobs`: the job scheduler (§3).
//! - `proxy`: service invocation in proxy mode (§6); `invoke`: the deprecated `InvokeService`,
//!   which reaches the target app's `OnInvoke` (§2.5).
//! - `secrets`, `metadata`: the local file secret store, `GetMetadata` and `SetMetadata` (§11).
//! - `duration`: Go and ISO 8601 durations, as Dapr parses them.
//! - [`components`]: the Component, Subscription and Resiliency YAML under
//!   `dapr-components/local/`.
//! - [`db`]: the SQLite database (WAL) everything lives in, under `.localdapr/`, locked to one
//!   process; one writer thread commits writes in groups, a pool of connections reads; `private_data`: that directory is `0700` and its database files `0600`.
//! - [`runner`]: `localdapr run -f dapr.yaml` — the apps of a Dapr multi-app run file, each
//!   with random API tokens (`tokens.json` in the data directory) and dying with the runner.
//! - `testsuite` (feature `testsuite`): fixtures for tests — a runtime in a temporary directory,
//!   and services under test served behind their sidecars (`TestDapr::serve_app`).
//!
//! The `localdapr` binary (`src/main.rs`) wraps [`runner`], or serves one sidecar
//! (`localdapr sidecar`).

mod app;
pub mod components;
pub mod db;
mod duration;
mod http_api;
mod invoke;
mod jobs;
mod metadata;
mod private_data;
mod proxy;
mod pubsub;
pub mod runner;
mod runtime;
mod secrets;
mod sidecar;
mod state;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use app::AppInstanceHandle;
pub use components::Resources;
pub use metadata::RUNTIME_VERSION;
pub use runtime::{
    AppSpec, CHECKPOINT_INTERVAL, DRAIN_TIMEOUT, HealthCheckSpec, LocalDapr, LocalDaprConfig,
    Runtime, SidecarHandle, StartError,
};
