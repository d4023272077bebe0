//! The scheduler's in-memory view of every job, mirroring the `jobs` table, and the queue of
//! jobs waiting for their time. Firing reads only this, so no SQLite call stands between a due
//! time and its trigger. Jobs are keyed by [`JobKey`]: the app that scheduled them and a name.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use prost_types::Any;
use todo_proto::dapr::proto::runtime::v1 as dapr;

use super::{progress::Progress, spec::JobPlan, store::StoredJob};

/// A job's identity: the app that scheduled it and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey {
    app_id: Arc<str>,
    name: Arc<str>,
}

impl JobKey {
    /// The key of job `name` of `app_id`.
    pub fn new(app_id: &str, name: &str) -> Self {
        Self {
            app_id: app_id.into(),
            name: name.into(),
        }
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The job name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Where a job is between ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Queued for its next attempt.
    Waiting,
    /// A trigger is on its way to the app; a job has at most one at a time.
    InFlight,
    /// Due, but no instance of its app was there; fires when one connects.
    Staged,
}

#[derive(Debug)]
struct Entry {
    stored: StoredJob,
    plan: JobPlan,
    phase: Phase,
}

/// A trigger to send now.
#[derive(Clone, Debug)]
pub struct Firing {
    /// The job.
    pub key: JobKey,
    /// The job's revision when it fired.
    pub revision: i64,
    /// The payload, unchanged.
    pub data: Option<Any>,
    /// When this attempt was due.
    pub due: DateTime<Utc>,
    /// Which attempt at the tick this is (0 for the first).
    pub attempt: u32,
}

/// Every job, and the queue of those waiting.
#[derive(Debug, Default)]
pub struct JobTable {
    jobs: HashMap<JobKey, Entry>,
    queue: BTreeSet<(DateTime<Utc>, JobKey)>,
}

impl JobTable {
    /// Adds or replaces a job, queued for its next attempt.
    pub fn put(&mut self, stored: StoredJob, plan: JobPlan) {
        let key = JobKey::new(&stored.app_id, &stored.job.name);
        self.remove(&key);
        self.queue
            .insert((stored.progress.next_attempt, key.clone()));
        self.jobs.insert(
            key,
            Entry {
                stored,
                plan,
                phase: Phase::Waiting,
            },
        );
    }

    /// Removes a job.
    pub fn remove(&mut self, key: &JobKey) {
        if let Some(entry) = self.jobs.remove(key) {
            self.queue
                .remove(&(entry.stored.progress.next_attempt, key.clone()));
        }
    }

    /// Removes the app's jobs whose names start with `prefix`.
    pub fn remove_prefix(&mut self, app_id: &str, prefix: &str) {
        let keys: Vec<JobKey> = self
            .jobs
            .keys()
            .filter(|key| key.app_id() == app_id && key.name().starts_with(prefix))
            .cloned()
            .collect();
        for key in keys {
            self.remove(&key);
        }
    }

    /// Whether the job exists.
    pub fn contains(&self, key: &JobKey) -> bool {
        self.jobs.contains_key(key)
    }

    /// The job as scheduled.
    pub fn job(&self, key: &JobKey) -> Option<dapr::Job> {
        self.jobs.get(key).map(|entry| entry.stored.job.clone())
    }

    /// The app's jobs as scheduled, by name.
    pub fn jobs_of(&self, app_id: &str) -> Vec<dapr::Job> {
        let mut jobs: Vec<dapr::Job> = self
            .jobs
            .iter()
            .filter(|(key, _)| key.app_id() == app_id)
            .map(|(_, entry)| entry.stored.job.clone())
            .collect();
        jobs.sort_by(|a, b| a.name.cmp(&b.name));
        jobs
    }

    /// Takes the jobs whose next attempt is due at `now` off the queue, marks them in flight and
    /// returns their triggers; missed ticks are coalesced first ([`Progress::catch_up`]).
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Firing> {
        let mut firings = Vec::new();
        while let Some((due, key)) = self.queue.first().cloned() {
            if due > now {
                break;
            }
            self.queue.pop_first();
            let Some(entry) = self.jobs.get_mut(&key) else {
                continue;
            };
            entry.stored.progress.catch_up(&entry.plan, now);
            entry.phase = Phase::InFlight;
            firings.push(Firing {
                key,
                revision: entry.stored.revision,
                data: entry.stored.job.data.clone(),
                due: entry.stored.progress.next_attempt,
                attempt: entry.stored.progress.attempts,
            });
        }
        firings
    }

    /// When the earliest queued attempt is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.queue.first().map(|(due, _)| *due)
    }

    /// The plan and progress of an in-flight job at `revision`.
    pub fn in_flight(&self, key: &JobKey, revision: i64) -> Option<(JobPlan, Progress)> {
        self.jobs
            .get(key)
            .filter(|entry| entry.stored.revision == revision && entry.phase == Phase::InFlight)
            .map(|entry| (entry.plan.clone(), entry.stored.progress))
    }

    /// Queues an in-flight job at `revision` again with its new progress.
    pub fn requeue(&mut self, key: &JobKey, revision: i64, progress: Progress) {
        let Some(entry) = self
            .jobs
            .get_mut(key)
            .filter(|entry| entry.stored.revision == revision)
        else {
            return;
        };
        if entry.phase == Phase::Waiting {
            self.queue
                .remove(&(entry.stored.progress.next_attempt, key.clone()));
        }
        entry.stored.progress = progress;
        entry.phase = Phase::Waiting;
        self.queue.insert((progress.next_attempt, key.clone()));
    }

    /// Removes a job if it is still at `revision`.
    pub fn remove_revision(&mut self, key: &JobKey, revision: i64) {
        if self
            .jobs
            .get(key)
            .is_some_and(|entry| entry.stored.revision == revision)
        {
            self.remove(key);
        }
    }

    /// Parks an in-flight job at `revision` until an instance of its app connects.
    pub fn stage(&mut self, key: &JobKey, revision: i64) {
        if let Some(entry) = self
            .jobs
            .get_mut(key)
            .filter(|entry| entry.stored.revision == revision)
        {
            entry.phase = Phase::Staged;
        }
    }

    /// Queues the app's staged jobs again; returns how many.
    pub fn release_staged(&mut self, app_id: &str) -> usize {
        let mut released = 0;
        for (key, entry) in &mut self.jobs {
            if key.app_id() == app_id && entry.phase == Phase::Staged {
                entry.phase = Phase::Waiting;
                self.queue
                    .insert((entry.stored.progress.next_attempt, key.clone()));
                released += 1;
            }
        }
        released
    }
}
