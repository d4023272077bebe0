//! `bench`: end-to-end benchmarks of Todo Suite, run in process on localdapr in a temporary
//! directory (release build: `just bench`). Not a timed test: it measures and reports.
//!
//! - `suite`: starts localdapr, todo-api, sync and the gateway through their `testsuite`
//!   features, as the end-to-end tests do.
//! - `report`: percentiles, the summary lines, and the JSON file under
//!   `$CARGO_TARGET_DIR/bench/` (or `target/bench/`).
//! - `scenarios`: one module per scenario; `Scenario` names them on the command line.

mod report;
mod scenarios;
mod suite;

use clap::Parser;

/// Runs one benchmark scenario and reports its figures.
#[derive(Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    scenario: scenarios::Scenario,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = cli.scenario.run().await?;
    report.print();
    let path = report.write()?;
    println!("{}: wrote {}", report.scenario, path.display());
    Ok(())
}
