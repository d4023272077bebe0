//! Trigger timing: never before the due time, each exactly once, and on an idle machine at
//! most 100 ms after it.
//!
//! The test machine is shared and noisy (two cores, other builds and test binaries running): a
//! single trigger can be held up by a descheduled thread far longer than localdapr would ever
//! take. So the 100 ms target is asserted on the median, and each trigger only has to come
//! within a generous 1 s, which still catches a trigger that waits for the wrong tick or for
//! another app. `benches/jobs.rs` measures the distribution properly.

use std::time::Duration;

use chrono::TimeDelta;
use dapr_kit::client::JobSpec;

use super::recorder::{Recorder, rfc3339_in};
use crate::support::{COMPONENTS, TestDapr, wait_until};

/// What the median must stay under.
const TARGET: TimeDelta = TimeDelta::milliseconds(100);
/// What every single trigger must stay under, on a busy shared machine.
const MAX_LATENESS: TimeDelta = TimeDelta::seconds(1);
const JOBS: i64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_3_triggers_are_never_early_fire_once_and_are_late_by_less_than_100ms_at_the_median() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let recorder = Recorder::new();
    let app = dapr
        .app_with_routes(localdapr::AppSpec::new("timely", None), recorder.routes())
        .await;
    let mut due_times = Vec::new();
    for index in 0..JOBS {
        let (due, due_text) = rfc3339_in(300 + index * 23);
        let name = format!("timed-{index}");
        app.client
            .schedule_job(JobSpec::once(name.clone(), due_text), false)
            .await
            .unwrap();
        due_times.push((name, due));
    }
    wait_until("every trigger arrived", Duration::from_secs(10), || async {
        recorder.count() == usize::try_from(JOBS).unwrap()
    })
    .await;
    let mut lateness: Vec<TimeDelta> = due_times
        .iter()
        .map(|(name, due)| {
            let deliveries = recorder.of(name);
            assert_eq!(deliveries.len(), 1, "{name}");
            let late = deliveries[0].at - *due;
            assert!(late >= TimeDelta::zero(), "{name} fired {late} early");
            late
        })
        .collect();
    lateness.sort();
    let median = lateness[lateness.len() / 2];
    let max = lateness[lateness.len() - 1];
    println!(
        "job trigger lateness over {JOBS} jobs: median {} µs, max {} µs",
        median.num_microseconds().unwrap(),
        max.num_microseconds().unwrap()
    );
    assert!(median < TARGET, "median lateness {median}");
    assert!(max < MAX_LATENESS, "max lateness {max}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_3_a_slow_app_does_not_delay_the_triggers_of_others() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let slow = Recorder::slow(Duration::from_secs(3));
    let fast = Recorder::new();
    let slow_app = dapr
        .app_with_routes(localdapr::AppSpec::new("slow", None), slow.routes())
        .await;
    let fast_app = dapr
        .app_with_routes(localdapr::AppSpec::new("fast", None), fast.routes())
        .await;
    let (due, due_text) = rfc3339_in(300);
    for (app, name) in [
        (&slow_app, "slow-1"),
        (&slow_app, "slow-2"),
        (&fast_app, "fast-1"),
    ] {
        app.client
            .schedule_job(JobSpec::once(name, due_text.clone()), false)
            .await
            .unwrap();
    }
    wait_until(
        "the fast app got its trigger",
        Duration::from_secs(5),
        || async { fast.count() == 1 },
    )
    .await;
    let late = fast.of("fast-1")[0].at - due;
    assert!(late < MAX_LATENESS, "fast trigger {late} late");
    // Both slow triggers were sent at their time too (each is recorded on arrival, then held
    // for 3 s): they arrive well before either slow call could have finished.
    wait_until(
        "both slow triggers arrive",
        Duration::from_secs(2),
        || async { slow.count() == 2 },
    )
    .await;
    assert!(
        slow.deliveries()
            .iter()
            .all(|delivery| delivery.at - due < MAX_LATENESS)
    );
}
