//! Each consumer (audit, notification, recurring, sync), then localdapr itself, killed with
//! SIGKILL in the middle of one 2,000-event run, while users keep calling the gateway; the run
//! is started again on the same data directory after each kill. Once nothing is left to
//! deliver or fire, every event was processed exactly once: audit holds exactly 2,000 rows,
//! each completed series has exactly one next occurrence, and each reminder shows exactly once
//! in its owner's notifications. Nothing went to a dead-letter topic.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use todo_proto::todo::v1::{
    CreateTaskRequest, Recurrence, RecurrencePreset, Reminder, recurrence::Rule, reminder::Trigger,
};
use tokio::{task::JoinSet, time::Instant};

use crate::{
    SERIAL, inspect,
    suite::{Suite, elapsed},
    users::{User, timestamp_in},
    wait::{wait_for_state, wait_until},
};

const USERS: usize = 8;
/// Steps per user; each makes ten task events: a daily task created and completed and its next
/// occurrence (recurring), a task with a reminder 2 s ahead, three tasks created and completed.
const STEPS_PER_USER: usize = 25;
const PLAIN_PER_STEP: usize = 3;
const EVENTS_PER_STEP: usize = 3 + 1 + 2 * PLAIN_PER_STEP;
/// The task events of the run.
const EVENTS: i64 = (USERS * STEPS_PER_USER * EVENTS_PER_STEP) as i64;
/// The calls the users make (the next occurrences are recurring's).
const CALLS: usize = USERS * STEPS_PER_USER * (2 + 2 * PLAIN_PER_STEP + 1);
/// A victim is killed once it handled this many task events since its run started.
const KILL_AFTER: u64 = 100;
/// How long the watched consumer may take to get to [`KILL_AFTER`].
const PROGRESS_DEADLINE: Duration = Duration::from_secs(60);
/// How long the last run may take to deliver everything and fire every reminder.
const SETTLE_DEADLINE: Duration = Duration::from_secs(120);

/// What is killed.
#[derive(Clone, Copy, Debug)]
enum Victim {
    /// An app of the run; the run stops with it.
    Consumer(&'static str),
    /// `localdapr run` itself, sidecars, log and scheduler included.
    Localdapr,
}

const VICTIMS: [Victim; 5] = [
    Victim::Consumer("audit"),
    Victim::Consumer("notification"),
    Victim::Consumer("recurring"),
    Victim::Consumer("sync"),
    Victim::Localdapr,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_processed_once_after_kill_9_of_each_consumer_and_of_localdapr() {
    assert_eq!(EVENTS, 2_000);
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut suite = Suite::new(&[]);
    suite.start().await;
    let mut users = Vec::new();
    for index in 0..USERS {
        users.push(User::sign_up(suite.gateway(), &format!("kill-{index}@example.com")).await);
    }

    let calls_done = Arc::new(AtomicUsize::new(0));
    let mut producers = JoinSet::new();
    for user in &users {
        producers.spawn(run_steps(user.clone(), calls_done.clone()));
    }
    for victim in VICTIMS {
        // localdapr has no metric of its own here: audit's progress shows events flowing.
        let watched = match victim {
            Victim::Consumer(app) => app,
            Victim::Localdapr => "audit",
        };
        wait_until(
            &format!("{watched} handles {KILL_AFTER} task events in this run"),
            PROGRESS_DEADLINE,
            || {
                let suite = &suite;
                async move { suite.events_handled(watched, "task-events", None).await >= KILL_AFTER }
            },
        )
        .await;
        let done = calls_done.load(Ordering::SeqCst);
        assert!(
            done < CALLS,
            "the users were done before {victim:?} was killed: not in the middle of the run"
        );
        eprintln!(
            "kill -9 {victim:?} after {done} of {CALLS} calls, audit at {} rows ({:.1}s)",
            inspect::audit_rows(&suite.audit_db()),
            elapsed(started)
        );
        match victim {
            Victim::Consumer(app) => suite.kill_app(app).await,
            Victim::Localdapr => suite.kill_runner().await,
        }
        suite.start().await;
    }
    let mut reminders_of = HashMap::new();
    while let Some(finished) = producers.join_next().await {
        let (user_id, reminders) = finished.unwrap();
        reminders_of.insert(user_id, reminders);
    }
    eprintln!("the users are done ({:.1}s)", elapsed(started));

    let (data_dir, audit_db) = (&suite.data_dir(), &suite.audit_db());
    wait_for_state(
        "every event delivered, every reminder fired and 2,000 audit rows",
        SETTLE_DEADLINE,
        || async move { (inspect::backlog(data_dir), inspect::audit_rows(audit_db)) },
        |(backlog, rows)| backlog.is_settled() && *rows >= EVENTS,
    )
    .await;
    eprintln!("settled ({:.1}s)", elapsed(started));

    assert_eq!(inspect::audit_rows(audit_db), EVENTS, "audit rows");
    assert_eq!(inspect::backlog(data_dir).dead_letters, 0, "dead letters");
    for user in &users {
        let tasks = user.all_tasks().await;
        let mut next_occurrences: HashMap<&str, usize> = HashMap::new();
        for task in tasks.iter().filter(|task| task.occurrence_index > 0) {
            assert_eq!(task.occurrence_index, 1, "a second occurrence: {task:?}");
            *next_occurrences.entry(&task.series_id).or_default() += 1;
        }
        assert_eq!(
            next_occurrences.len(),
            STEPS_PER_USER,
            "series with a next occurrence"
        );
        let duplicated: Vec<_> = next_occurrences.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            duplicated.is_empty(),
            "duplicate next occurrences: {duplicated:?}"
        );
        let expected_tasks = STEPS_PER_USER * (2 + 1 + PLAIN_PER_STEP);
        assert_eq!(tasks.len(), expected_tasks, "tasks of {}", user.id);

        let notifications = user.notifications().await;
        let shown: Vec<&str> = notifications.iter().map(|n| n.task_id.as_str()).collect();
        let distinct: BTreeSet<&str> = shown.iter().copied().collect();
        assert_eq!(
            shown.len(),
            distinct.len(),
            "a reminder shown twice: {shown:?}"
        );
        let reminders: BTreeSet<&str> = reminders_of[&user.id].iter().map(String::as_str).collect();
        assert_eq!(distinct, reminders, "reminders shown, against those set");
    }
    suite.stop().await;
    eprintln!("done ({:.1}s)", elapsed(started));
}

/// Makes `user`'s share of the run, counting each call in `calls_done`; returns the user's id
/// and the ids of the tasks with a reminder.
async fn run_steps(user: User, calls_done: Arc<AtomicUsize>) -> (String, Vec<String>) {
    let count = || calls_done.fetch_add(1, Ordering::SeqCst);
    let due_time = Some(timestamp_in(Duration::from_secs(3600)));
    let mut reminders = Vec::new();
    for step in 0..STEPS_PER_USER {
        let series = user
            .create(|| CreateTaskRequest {
                request_id: format!("series-{step}"),
                title: format!("daily {step}"),
                due_time,
                time_zone: "UTC".into(),
                recurrence: Some(Recurrence {
                    rule: Some(Rule::Preset(RecurrencePreset::Daily as i32)),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await;
        count();
        let reminded = user
            .create(|| CreateTaskRequest {
                request_id: format!("reminder-{step}"),
                title: format!("reminder {step}"),
                reminder: Some(Reminder {
                    trigger: Some(Trigger::RemindTime(timestamp_in(Duration::from_secs(2)))),
                }),
                ..Default::default()
            })
            .await;
        reminders.push(reminded.id);
        count();
        let mut plain = Vec::new();
        for index in 0..PLAIN_PER_STEP {
            let task = user
                .create(|| CreateTaskRequest {
                    request_id: format!("plain-{step}-{index}"),
                    title: format!("plain {step}.{index}"),
                    ..Default::default()
                })
                .await;
            plain.push(task.id);
            count();
        }
        user.complete(&series.id).await;
        count();
        for task_id in &plain {
            user.complete(task_id).await;
            count();
        }
    }
    (user.id, reminders)
}
