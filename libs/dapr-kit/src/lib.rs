//! `dapr-kit`: everything that knows the Dapr wire, shared by every service.
//!
//! - [`client`]: [`DaprClient`], a typed client of the sidecar's gRPC API — state with etags
//!   and transactions (with the outbox projection), publishing, jobs, secrets, metadata — and
//!   [`AppChannel`]s that reach other apps through the sidecar in proxy mode.
//!   [`DaprClient::read_secret_key`] reads the one value of a secret a service needs at startup
//!   ([`SecretKeyRef`]), with a [`SecretKeyError`] that names store, secret and key.
//! - [`callback`]: the app side — [`Subscriptions`] answer `ListTopicSubscriptions` and route
//!   `OnTopicEvent` to typed handlers returning SUCCESS/RETRY/DROP, [`JobHandlers`] serve
//!   `OnJobEvent` and `OnJobEventAlpha1`, plus the health check and the app-token check.
//! - [`caller`]: who is calling — the trusted app, its [`CallerRole`], and the user it acts for
//!   ([`CallerUser`]), believed only on calls that carried the app token.
//! - [`config`]: where the sidecar is and which tokens guard each direction.
//! - [`runner`]: [`AppServer`], which binds nothing itself, serves the app and admin ports,
//!   mounts health, reflection, the app-token check and CORS, and drains on [`shutdown_signal`].
//! - [`mod@service_main`]: a service binary's whole `main` (telemetry, config, bind, serve, flush),
//!   and the [`ServiceSettings`] (ports, sidecar, drain) every service reads the same way.
//! - [`sidecar_watch`]: the app runner's watch on the sidecar — not ready while it is gone,
//!   exit when it stays gone.
//! - [`metrics`]: event and job handling metrics.
//! - [`net`]: the one place servers accept connections, each with `TCP_NODELAY`, room for
//!   10,000 concurrent HTTP/2 streams and frames of up to 1 MiB.
//! - [`DaprError`]: a failed sidecar call; [`unavailable_or_internal`] is how every service
//!   answers a client whose request failed on one (`Unavailable` when retrying may help).
//! - [`oversized_message`]: a request over the size limit answers `RESOURCE_EXHAUSTED`.
//!
//! The facts this crate relies on (status codes, envelope fields, quirks) are in
//! `shared/reference/dapr.md`; each place that depends on one cites its section.

pub mod callback;
pub mod caller;
pub mod client;
pub mod config;
mod error;
pub mod metrics;
pub mod net;
pub mod oversized_message;
pub mod runner;
pub mod service_main;
pub mod sidecar_watch;

pub use callback::{
    AppCallbackService, EventOutcome, HandlerError, JobHandlers, JobTrigger, Subscription,
    Subscriptions, TopicEvent,
};
pub use caller::{CallOrigin, CallerRole, CallerUser, TrustedCallers};
pub use client::{
    AppChannel, DaprClient, Etag, Publication, SecretKeyError, SecretKeyRef, StateOperation,
};
pub use config::DaprConfig;
pub use error::{DaprError, unavailable_or_internal};
pub use runner::{AppListeners, AppServer, RunError, shutdown_signal};
pub use service_main::{ServiceConfig, ServiceSettings, service_main};
pub use sidecar_watch::SidecarWatch;
