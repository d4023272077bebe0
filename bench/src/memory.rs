//! The suite's memory: each process's resident set size now ([`snapshot`]) or at its highest
//! over a stretch of time ([`Sampler`]).

use std::{collections::BTreeMap, time::Duration};

use tokio::sync::watch;

use crate::{proc, report::Report};

/// How often a [`Sampler`] reads `/proc`.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// Resident set sizes in MiB, by process name, and their sum.
#[derive(Debug, Default)]
pub struct Footprint {
    /// Each process's figure (the highest seen, for a sampler).
    pub by_process: BTreeMap<String, f64>,
    /// The sum over the processes (the highest sum seen, for a sampler).
    pub total: f64,
}

impl Footprint {
    /// Adds `rss_<label>_mib_<process>` per process and `rss_<label>_mib_total`.
    pub fn report(&self, report: &mut Report, label: &str) {
        for (name, mib) in &self.by_process {
            report.figure(&format!("rss_{label}_mib_{name}"), *mib);
        }
        report.figure(&format!("rss_{label}_mib_total"), self.total);
    }
}

/// Every process's resident set size now (replicas of one name are summed under `name`).
pub fn snapshot(processes: &[(String, u32)]) -> Footprint {
    let mut footprint = Footprint::default();
    for (name, pid) in processes {
        if let Some(mib) = proc::rss_mib(*pid) {
            *footprint.by_process.entry(name.clone()).or_default() += mib;
            footprint.total += mib;
        }
    }
    footprint
}

/// Samples the processes' memory in the background until stopped, keeping the highest figures.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Footprint>,
}

impl Sampler {
    /// Starts sampling `processes`.
    pub fn start(processes: Vec<(String, u32)>) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak = Footprint::default();
            loop {
                let now = snapshot(&processes);
                for (name, mib) in now.by_process {
                    let highest = peak.by_process.entry(name).or_default();
                    *highest = highest.max(mib);
                }
                peak.total = peak.total.max(now.total);
                if tokio::time::timeout(SAMPLE_EVERY, stopped.changed())
                    .await
                    .is_ok()
                {
                    return peak;
                }
            }
        });
        Self { stop, task }
    }

    /// Stops sampling and returns the highest figures.
    pub async fn stop(self) -> Footprint {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
