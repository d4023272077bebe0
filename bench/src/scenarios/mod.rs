//! The scenarios. To add one: a module with `Options` (clap `Args`) and
//! `run(options) -> anyhow::Result<Report>`, a variant here, and its line in [`all`].

pub mod api_mix;
mod audit_ingest;
mod fan_out;
mod footprint;
mod reminders;
mod state_mix;
mod user_size;

use clap::{Parser, Subcommand};

use crate::report::Report;

/// A benchmark scenario.
#[derive(Subcommand, Clone, Debug)]
pub enum Scenario {
    /// The task API under 64 calls in flight, over gRPC and gRPC-web, against a bare tonic baseline.
    ApiMix(api_mix::Options),
    /// CreateTask and ListTasks latency, one call at a time, for users of a given size.
    UserSize(user_size::Options),
    /// Live delivery: from a mutation's response to its event on every watch of the user.
    FanOut(fan_out::Options),
    /// Reminder lateness: many reminders due within seconds, seen on the users' watches.
    Reminders(reminders::Options),
    /// audit's ingest rate into SQLite and PostgreSQL.
    AuditIngest(audit_ingest::Options),
    /// Start-up time, memory idle and after sign-ups, binary sizes.
    Footprint(footprint::Options),
    /// localdapr's state and pub/sub path alone under the API mix's load shape.
    StateMix(state_mix::Options),
}

impl Scenario {
    /// Runs the scenario.
    pub async fn run(self) -> anyhow::Result<Report> {
        match self {
            Self::ApiMix(options) => api_mix::run(options).await,
            Self::UserSize(options) => user_size::run(options).await,
            Self::FanOut(options) => fan_out::run(options).await,
            Self::Reminders(options) => reminders::run(options).await,
            Self::AuditIngest(options) => audit_ingest::run(options).await,
            Self::Footprint(options) => footprint::run(options).await,
            Self::StateMix(options) => state_mix::run(options).await,
        }
    }
}

/// Every scenario with its default knobs, in the order `bench all` runs them.
pub fn all() -> Vec<Scenario> {
    /// A scenario's default options, as clap parses them from no arguments.
    fn defaults<T: clap::Args>() -> T {
        #[derive(Parser)]
        struct Wrapper<T: clap::Args> {
            #[command(flatten)]
            options: T,
        }
        Wrapper::<T>::parse_from(["bench"]).options
    }
    let mut all = vec![
        Scenario::Footprint(defaults()),
        Scenario::ApiMix(defaults()),
        Scenario::UserSize(defaults()),
        Scenario::FanOut(defaults()),
        Scenario::Reminders(defaults()),
        Scenario::AuditIngest(defaults()),
    ];
    if crate::suite::real_dapr_available() {
        all.insert(
            2,
            Scenario::ApiMix(api_mix::Options {
                real_dapr: true,
                ..defaults()
            }),
        );
    }
    all
}
