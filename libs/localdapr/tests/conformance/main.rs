//! localdapr's conformance suite, organised by section of `shared/reference/dapr.md`: each
//! module checks that localdapr answers as daprd v1.18.3 does, over real sockets, with Dapr
//! clients we did not write (the official `dapr` crate's generated clients) and with dapr-kit.
//! `private_data_dir` checks a guarantee of localdapr's own (its data is private).

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod subscribers;
mod support;

mod delivery_4_3;
mod drops_2_3;
mod health_2_6;
mod http_port_8_2;
mod invocation_6;
mod invoke_service_2_5;
mod jobs_3;
mod metrics_9;
mod outbox_5_4;
mod private_data_dir;
mod publish_4_1;
mod pubsub_2_3;
mod resiliency_7_5;
mod sidecar_8_11;
mod state_5;
mod subscriptions_7_4;
mod tokens_8_2;
