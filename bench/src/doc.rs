//! `docs/benchmarks.md`: the goals of issue #12 judged on this run's figures, every figure, and
//! a history table that each run extends (the rows already in the file are kept, so a
//! regression shows).

use std::{fmt::Write as _, path::Path, time::Duration};

use crate::report::Report;

/// Where the kept rows begin.
const HISTORY_HEADING: &str = "## History";

/// A goal: its wording, the figure (scenario, name), and whether a value meets it.
struct Goal {
    text: &'static str,
    value: Option<f64>,
    met: fn(f64) -> bool,
    unit: &'static str,
}

/// Writes the document for `reports`, keeping the history rows of the one at `path`.
///
/// # Errors
/// When the file cannot be read back or written.
pub fn write(path: &Path, reports: &[Report], took: Duration) -> anyhow::Result<()> {
    let kept: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .split(HISTORY_HEADING)
        .nth(1)
        .map(|history| {
            history
                .lines()
                .filter(|line| line.starts_with("| 20"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let figure = |scenario: &str, name: &str| -> Option<f64> {
        reports
            .iter()
            .find(|report| report.scenario == scenario)?
            .figures
            .iter()
            .find(|figure| figure.name == name)
            .map(|figure| figure.value)
    };
    let ratio = |numerator: Option<f64>, denominator: Option<f64>| Some(numerator? / denominator?);
    let sum = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
    let highest_idle = reports
        .iter()
        .filter(|report| report.scenario == "footprint")
        .flat_map(|report| &report.figures)
        .filter(|figure| {
            figure.name.starts_with("rss_idle_mib_") && !figure.name.ends_with("_total")
        })
        .map(|figure| figure.value)
        .reduce(f64::max);
    let goals = [
        Goal {
            text: "API mix over gRPC ≥ 10 % of the echo baseline",
            value: figure("api-mix", "grpc_ratio_to_baseline").map(|r| r * 100.0),
            met: |v| v >= 10.0,
            unit: "%",
        },
        Goal {
            text: "API mix over gRPC p99 < 25 ms at 64 in flight",
            value: figure("api-mix", "grpc_p99_ms"),
            met: |v| v < 25.0,
            unit: "ms",
        },
        Goal {
            text: "API mix errors = 0 (gRPC and gRPC-web)",
            value: sum(
                figure("api-mix", "grpc_errors"),
                figure("api-mix", "grpc_web_errors"),
            ),
            met: |v| v == 0.0,
            unit: "",
        },
        Goal {
            text: "CreateTask p50 at 10,000 tasks ≤ 3× at 0",
            value: ratio(
                figure("user-size", "create_at_10000_p50_ms"),
                figure("user-size", "create_at_0_p50_ms"),
            ),
            met: |v| v <= 3.0,
            unit: "×",
        },
        Goal {
            text: "fan-out p99 < 50 ms at 1,000 watchers",
            value: figure("fan-out", "delivery_1000_p99_ms"),
            met: |v| v < 50.0,
            unit: "ms",
        },
        Goal {
            text: "fan-out: no watcher misses an event at 1,000 watchers",
            value: figure("fan-out", "missed_1000"),
            met: |v| v == 0.0,
            unit: "",
        },
        Goal {
            text: "reminder lateness p99 < 200 ms",
            value: figure("reminders", "lateness_p99_ms"),
            met: |v| v < 200.0,
            unit: "ms",
        },
        Goal {
            text: "reminders missed = 0 and shown twice = 0",
            value: sum(
                figure("reminders", "missed"),
                figure("reminders", "shown_twice"),
            ),
            met: |v| v == 0.0,
            unit: "",
        },
        Goal {
            text: "every process < 20 MiB idle (the highest)",
            value: highest_idle,
            met: |v| v < 20.0,
            unit: "MiB",
        },
        Goal {
            text: "gateway < 64 MiB after 200 sign-ups",
            value: figure("footprint", "rss_after_sign_ups_mib_gateway"),
            met: |v| v < 64.0,
            unit: "MiB",
        },
        Goal {
            text: "whole local suite < 150 MiB under the mix",
            value: figure("api-mix", "rss_under_mix_mib_total"),
            met: |v| v < 150.0,
            unit: "MiB",
        },
    ];

    let mut doc = String::new();
    writeln!(doc, "# Benchmarks\n")?;
    writeln!(
        doc,
        "Written by `just bench` (`bench all`, {:.0} s) on {}, at commit {}, on {}. Every \
         scenario starts the suite as `just up` does (`localdapr run`, the six apps, release \
         builds, a temporary directory) and measures through the gateway. Throughputs are \
         also given as ratios to a bare tonic unary server (`grpc.health.v1` `Health/Check`) \
         measured in the same run with the same client and concurrency, because this machine \
         is shared and noisy. Each scenario's JSON is under `<target dir>/bench/`; what each \
         one does is in `bench/src/scenarios/`.\n",
        took.as_secs_f64(),
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        command_output("git", &["rev-parse", "--short", "HEAD"]),
        machine(),
    )?;
    writeln!(doc, "## Goals (issue #12)\n")?;
    writeln!(doc, "| Goal | This run | Met |\n|---|---|---|")?;
    for goal in &goals {
        let (value, met) = match goal.value {
            Some(value) if value.is_finite() => (
                format!("{value:.2} {}", goal.unit),
                if (goal.met)(value) { "yes" } else { "**no**" },
            ),
            _ => ("not measured".to_string(), "**no**"),
        };
        writeln!(doc, "| {} | {} | {} |", goal.text, value.trim(), met)?;
    }
    writeln!(doc, "\n## The API mix on localdapr and on the real daprd\n")?;
    writeln!(
        doc,
        "The real daprd runs (`api-mix-daprd`) when `just bench` runs under \
         `scripts/with-real-dapr.sh` (daprd 1.18.3, Kafka, PostgreSQL state store and outbox).\n"
    )?;
    writeln!(
        doc,
        "| Runtime | Transport | ops/s | % of echo | p50 ms | p99 ms | p99.9 ms | errors |\n\
         |---|---|---|---|---|---|---|---|"
    )?;
    for (scenario, runtime) in [("api-mix", "localdapr"), ("api-mix-daprd", "daprd")] {
        for (transport, label) in [("grpc", "gRPC"), ("grpc_web", "gRPC-web")] {
            let cell = |name: &str, scale: f64| {
                figure(scenario, &format!("{transport}_{name}"))
                    .map_or_else(|| "–".to_string(), |v| format!("{:.1}", v * scale))
            };
            writeln!(
                doc,
                "| {runtime} | {label} | {} | {} | {} | {} | {} | {} |",
                cell("ops_per_s", 1.0),
                cell("ratio_to_baseline", 100.0),
                cell("p50_ms", 1.0),
                cell("p99_ms", 1.0),
                cell("p999_ms", 1.0),
                cell("errors", 1.0),
            )?;
        }
    }
    writeln!(doc, "\n## Every figure of this run\n")?;
    for report in reports {
        writeln!(doc, "### `{}`\n", report.scenario)?;
        writeln!(doc, "Parameters: `{}`\n", report.parameters)?;
        for note in &report.notes {
            writeln!(doc, "**Failed:** {note}\n")?;
        }
        writeln!(doc, "| Figure | Value |\n|---|---|")?;
        for figure in &report.figures {
            writeln!(doc, "| {} | {:.3} |", figure.name, figure.value)?;
        }
        writeln!(doc)?;
    }
    writeln!(doc, "{HISTORY_HEADING}\n")?;
    writeln!(
        doc,
        "One row per `just bench`, oldest first; rows are kept when the file is rewritten.\n"
    )?;
    let columns: [(&str, Option<f64>); 10] = [
        ("mix gRPC % of echo", goals[0].value),
        ("mix gRPC p99 ms", goals[1].value),
        (
            "mix gRPC-web % of echo",
            figure("api-mix", "grpc_web_ratio_to_baseline").map(|r| r * 100.0),
        ),
        (
            "daprd mix gRPC % of echo",
            figure("api-mix-daprd", "grpc_ratio_to_baseline").map(|r| r * 100.0),
        ),
        ("create 10k/0", goals[3].value),
        ("fan-out p99 ms @1000", goals[4].value),
        ("reminder p99 ms", goals[6].value),
        (
            "audit SQLite ev/s",
            figure("audit-ingest", "sqlite_events_per_s"),
        ),
        ("gateway MiB after sign-ups", goals[9].value),
        ("suite MiB under mix", goals[10].value),
    ];
    writeln!(
        doc,
        "| Date | Commit | {} |",
        columns.map(|(name, _)| name).join(" | ")
    )?;
    writeln!(doc, "|---|---|{}", "---|".repeat(columns.len()))?;
    for row in kept {
        writeln!(doc, "{row}")?;
    }
    let cells: Vec<String> = columns
        .iter()
        .map(|(_, value)| value.map_or_else(|| "–".to_string(), |v| format!("{v:.1}")))
        .collect();
    writeln!(
        doc,
        "| {} | {} | {} |",
        command_output("date", &["-u", "+%Y-%m-%d"]),
        command_output("git", &["rev-parse", "--short", "HEAD"]),
        cells.join(" | ")
    )?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, doc)?;
    Ok(())
}

/// What `program args` printed, trimmed, or `?`.
fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .current_dir(crate::suite::repo_root())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or_else(
            || "?".to_string(),
            |output| String::from_utf8_lossy(&output.stdout).trim().to_string(),
        )
}

/// This machine: cores, memory and CPU model.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kib: f64 = info
                .lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib / (1024.0 * 1024.0))
        })
        .unwrap_or(f64::NAN);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{cores} cores, {memory_gib:.0} GiB, {model}")
}
