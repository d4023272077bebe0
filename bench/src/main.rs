//! `bench`: end-to-end benchmarks of Todo Suite (`just bench`). Each scenario starts the suite
//! as `just up` does — `localdapr run` and the six apps, release binaries, in a temporary
//! directory — measures, prints one line per figure and writes JSON under
//! `<target dir>/bench/`. `bench all` runs every scenario and writes `docs/benchmarks.md`.
//! Not a timed test: it measures and reports; the goals are judged in the document.
//!
//! - `suite`: the suite's processes, their ports, tokens and sign-ups.
//! - `load`: both transports, the closed-loop load, the bare tonic baseline.
//! - `proc`, `memory`: the processes' memory, read from `/proc`.
//! - `report`: percentiles, the summary lines, the JSON file; `doc`: `docs/benchmarks.md`.
//! - `scenarios`: one module per scenario.

mod doc;
mod load;
mod memory;
mod proc;
mod report;
mod scenarios;
mod suite;

use clap::{Parser, Subcommand};

/// Runs benchmark scenarios and reports their figures.
#[derive(Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Scenario(scenarios::Scenario),
    /// Runs every scenario with its defaults and writes the document of the figures.
    All {
        /// The document to write; its history table is kept and extended.
        #[arg(long, default_value_os_t = suite::repo_root().join("docs/benchmarks.md"))]
        doc: std::path::PathBuf,
    },
    /// The baseline server (started by the scenarios themselves).
    #[command(hide = true)]
    EchoServer,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Scenario(scenario) => {
            let report = scenario.run().await?;
            report.print();
            println!("{}: wrote {}", report.scenario, report.write()?.display());
        }
        Command::All { doc } => {
            let started = std::time::Instant::now();
            let mut reports = Vec::new();
            for scenario in scenarios::all() {
                let report = scenario.run().await?;
                report.print();
                report.write()?;
                reports.push(report);
            }
            doc::write(&doc, &reports, started.elapsed())?;
            println!("bench all: wrote {}", doc.display());
        }
        Command::EchoServer => load::Echo::serve().await?,
    }
    Ok(())
}
