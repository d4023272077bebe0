//! localdapr's conformance suite, organised by section of `shared/reference/dapr.md`: each
//! module checks that localdapr answers as daprd v1.18.3 does, over real sockets, with Dapr
//! clients we did not write (the official `dapr` crate's generated clients) and with dapr-kit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod support;

mod jobs_3;
mod state_5;
