//! The scenarios. To add one: a module with `Options` (clap `Args`) and
//! `run(options) -> anyhow::Result<Report>`, and a variant here.

mod sign_up_memory;
mod user_size;
mod watch_latency;

use clap::Subcommand;

use crate::report::Report;

/// A benchmark scenario.
#[derive(Subcommand)]
pub enum Scenario {
    /// Delivery latency of task events: from a mutation's response to its event on every watch.
    WatchLatency(watch_latency::Options),
    /// CreateTask and ListTasks latency, one call at a time, for users of a given size.
    UserSize(user_size::Options),
    /// Resident memory before, at the peak of and after a burst of sign-ups.
    SignUpMemory(sign_up_memory::Options),
}

impl Scenario {
    /// Runs the scenario.
    pub async fn run(self) -> anyhow::Result<Report> {
        match self {
            Self::WatchLatency(options) => watch_latency::run(options).await,
            Self::UserSize(options) => user_size::run(options).await,
            Self::SignUpMemory(options) => sign_up_memory::run(options).await,
        }
    }
}
