//! A scenario's figures: printed one summary line each, and written as JSON to
//! `<target dir>/bench/<scenario>.json`.

use std::{path::PathBuf, time::Duration};

use serde::Serialize;

use crate::load::LoadResult;

/// What a scenario measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The scenario's name, e.g. `fan-out`.
    pub scenario: &'static str,
    /// What it did, e.g. changes and watches.
    pub parameters: serde_json::Value,
    /// Named figures, in milliseconds unless the name says otherwise.
    pub figures: Vec<Figure>,
    /// What went wrong in a part of the scenario that did not stop the rest.
    pub notes: Vec<String>,
}

/// One figure.
#[derive(Debug, Serialize)]
pub struct Figure {
    /// Its name, e.g. `delivery_p50_ms`.
    pub name: String,
    /// Its value.
    pub value: f64,
}

impl Report {
    /// A report of `scenario` run with `parameters`.
    pub fn new(scenario: &'static str, parameters: serde_json::Value) -> Self {
        Self {
            scenario,
            parameters,
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a note.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Adds a figure.
    pub fn figure(&mut self, name: &str, value: f64) {
        self.figures.push(Figure {
            name: name.to_string(),
            value,
        });
    }

    /// Adds `<name>_p50_ms`, `_p99_ms`, `_p999_ms` and `_max_ms` of `samples`.
    pub fn latencies(&mut self, name: &str, samples: &mut [Duration]) {
        samples.sort_unstable();
        for (label, quantile) in [("p50", 0.50), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)] {
            let value = percentile(samples, quantile).map_or(f64::NAN, millis);
            self.figure(&format!("{name}_{label}_ms"), value);
        }
    }

    /// Adds `<name>_ops_per_s`, the baseline's, their ratio, the errors and the latencies of
    /// every successful call of `load`.
    pub fn throughput(&mut self, name: &str, load: &LoadResult, baseline: &LoadResult) {
        let ops = load.ops_per_second();
        let base = baseline.ops_per_second();
        self.figure(&format!("{name}_ops_per_s"), ops);
        self.figure(&format!("{name}_baseline_ops_per_s"), base);
        self.figure(&format!("{name}_ratio_to_baseline"), ops / base);
        #[allow(clippy::cast_precision_loss)]
        self.figure(&format!("{name}_errors"), load.errors as f64);
        for error in &load.first_errors {
            eprintln!("{}: {name}: error: {error}", self.scenario);
        }
        self.latencies(name, &mut load.all_samples());
        self.latencies(&format!("{name}_baseline"), &mut baseline.all_samples());
    }

    /// Prints one line per figure.
    pub fn print(&self) {
        for figure in &self.figures {
            println!("{} {} = {:.3}", self.scenario, figure.name, figure.value);
        }
    }

    /// Writes the report as JSON and returns the file's path.
    ///
    /// # Errors
    /// When the directory or file cannot be written.
    pub fn write(&self) -> anyhow::Result<PathBuf> {
        // The target directory: this executable is `<target dir>/<profile>/bench`.
        let exe = std::env::current_exe()?;
        let target = exe
            .parent()
            .and_then(std::path::Path::parent)
            .map_or_else(|| PathBuf::from("target"), std::path::Path::to_path_buf);
        let dir = target.join("bench");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.scenario));
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)?;
        Ok(path)
    }
}

/// The nearest-rank percentile of sorted `samples`.
fn percentile(samples: &[Duration], quantile: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((quantile * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples.get(rank - 1).copied()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let cases = [(0.5, 50), (0.99, 99), (1.0, 100), (0.0, 1)];
        for (quantile, expected) in cases {
            assert_eq!(
                percentile(&samples, quantile),
                Some(Duration::from_millis(expected)),
                "case: {quantile}"
            );
        }
        assert_eq!(percentile(&[], 0.5), None);
    }
}
