//! §3.1–§3.2: scheduling, reading and deleting jobs, with daprd's status codes.

use dapr::dapr::proto::{
    common::v1::{JobFailurePolicy, JobFailurePolicyConstant, job_failure_policy::Policy},
    runtime::v1::{
        DeleteJobRequest, DeleteJobsByPrefixRequest, DeleteJobsByPrefixRequestAlpha1,
        GetJobRequest, Job, ListJobsRequest, ListJobsRequestAlpha1, ScheduleJobRequest,
    },
};
use dapr_kit::client::JobSpec;
use todo_proto::dapr::proto::runtime::v1::Job as KitJob;
use tonic::Code;

use super::recorder::string_any;
use crate::support::{COMPONENTS, TestDapr};

fn job(name: &str) -> Job {
    Job {
        name: name.into(),
        ..Default::default()
    }
}

fn schedule(job: Job, overwrite: bool) -> ScheduleJobRequest {
    ScheduleJobRequest {
        job: Some(job),
        overwrite,
    }
}

#[tokio::test]
async fn s3_2_scheduling_answers_with_daprd_status_codes() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let mut client = dapr.client("jobs").await.official().await;
    let every = |job: Job| Job {
        schedule: Some("@every 1h".into()),
        ..job
    };
    let due = |job: Job| Job {
        due_time: Some("1h".into()),
        ..job
    };
    let cases: Vec<(&str, Option<Job>, Code)> = vec![
        ("no job", None, Code::InvalidArgument),
        ("empty name", Some(every(job(""))), Code::InvalidArgument),
        ("name with a pipe", Some(every(job("a|b"))), Code::Ok),
        (
            "neither schedule nor due time",
            Some(job("j")),
            Code::InvalidArgument,
        ),
        (
            "name the scheduler refuses",
            Some(every(job("a/b"))),
            Code::Internal,
        ),
        (
            "bad cron",
            Some(Job {
                schedule: Some("not a cron".into()),
                ..job("j")
            }),
            Code::Internal,
        ),
        (
            "five-field cron",
            Some(Job {
                schedule: Some("*/5 * * * *".into()),
                ..job("j")
            }),
            Code::Internal,
        ),
        (
            "day of week 7",
            Some(Job {
                schedule: Some("0 0 0 * * 7".into()),
                ..job("j")
            }),
            Code::Internal,
        ),
        (
            "bad due time",
            Some(Job {
                due_time: Some("tomorrow".into()),
                ..job("j")
            }),
            Code::Internal,
        ),
        (
            "repeating ISO-8601 due time",
            Some(Job {
                due_time: Some("R3/PT1S".into()),
                ..job("j")
            }),
            Code::Internal,
        ),
        (
            "zero repeats",
            Some(Job {
                repeats: Some(0),
                ..every(job("j"))
            }),
            Code::Internal,
        ),
        (
            "repeats without schedule",
            Some(Job {
                repeats: Some(2),
                ..due(job("j"))
            }),
            Code::Internal,
        ),
        (
            "ttl without schedule",
            Some(Job {
                ttl: Some("2h".into()),
                ..due(job("j"))
            }),
            Code::Internal,
        ),
        (
            "ttl before due time",
            Some(Job {
                due_time: Some("2030-01-01T00:00:00Z".into()),
                ttl: Some("2029-01-01T00:00:00Z".into()),
                ..every(job("j"))
            }),
            Code::Internal,
        ),
        (
            "bad ttl",
            Some(Job {
                ttl: Some("forever".into()),
                ..every(job("j"))
            }),
            Code::Internal,
        ),
        ("every", Some(every(job("ok-every"))), Code::Ok),
        (
            "six-field cron",
            Some(Job {
                schedule: Some("0 30 * * * *".into()),
                ..job("ok-cron")
            }),
            Code::Ok,
        ),
        (
            "ISO-8601 due time",
            Some(Job {
                due_time: Some("PT1H".into()),
                ..job("ok-iso")
            }),
            Code::Ok,
        ),
        (
            "schedule, due time, repeats and ttl",
            Some(Job {
                due_time: Some("2h".into()),
                repeats: Some(3),
                ttl: Some("P1D".into()),
                ..every(job("ok-all"))
            }),
            Code::Ok,
        ),
    ];
    let mut wrong = Vec::new();
    for (case, job, expected) in cases {
        let answer = client
            .schedule_job(ScheduleJobRequest {
                job,
                overwrite: false,
            })
            .await;
        let code = answer.err().map_or(Code::Ok, |status| status.code());
        if code != expected {
            wrong.push(format!("{case}: {code:?}, not {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn s3_2_get_of_a_missing_job_is_internal_with_not_found_in_the_message() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app = dapr.client("jobs").await;
    let status = app
        .official()
        .await
        .get_job(GetJobRequest {
            name: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(
        status.message().contains("job not found: missing"),
        "{}",
        status.message()
    );
    // dapr-kit relies on that message to report a missing job as None.
    assert_eq!(app.client.get_job("missing").await.unwrap(), None);
    let empty = app
        .official()
        .await
        .get_job(GetJobRequest { name: "".into() })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn s3_2_a_taken_name_is_already_exists_unless_overwrite() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let mut client = dapr.client("jobs").await.official().await;
    let first = Job {
        due_time: Some("1h".into()),
        ..job("reminder-1")
    };
    client.schedule_job(schedule(first, false)).await.unwrap();
    let second = Job {
        schedule: Some("@every 2h".into()),
        data: Some(string_any("second")),
        ..job("reminder-1")
    };
    let status = client
        .schedule_job(schedule(second.clone(), false))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    client.schedule_job(schedule(second, true)).await.unwrap();
    let stored = client
        .get_job(GetJobRequest {
            name: "reminder-1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(stored.schedule.as_deref(), Some("@every 2h"));
    assert_eq!(stored.due_time, None);
    assert_eq!(stored.data, Some(string_any("second")));
}

#[tokio::test]
async fn s3_1_jobs_read_back_as_scheduled_and_belong_to_their_app() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app = dapr.client("jobs").await;
    let other = dapr.client("other").await;
    let mut client = app.official().await;
    let custom_policy = JobFailurePolicy {
        policy: Some(Policy::Constant(JobFailurePolicyConstant {
            interval: Some(prost_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
            max_retries: None,
        })),
    };
    let scheduled = [
        Job {
            due_time: Some("90m".into()),
            data: Some(string_any("b")),
            ..job("b-job")
        },
        Job {
            schedule: Some("0 0 9 * * mon-fri".into()),
            repeats: Some(10),
            ttl: Some("P30D".into()),
            failure_policy: Some(custom_policy),
            ..job("a-job")
        },
    ];
    for job in &scheduled {
        client
            .schedule_job(schedule(job.clone(), false))
            .await
            .unwrap();
    }
    let listed = client
        .list_jobs(ListJobsRequest {})
        .await
        .unwrap()
        .into_inner()
        .jobs;
    let names: Vec<&str> = listed.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["a-job", "b-job"]);
    // Times stay as given; an unset policy reads back as the default daprd stores.
    let a_job = &listed[0];
    assert_eq!(a_job.schedule.as_deref(), Some("0 0 9 * * mon-fri"));
    assert_eq!(
        (a_job.repeats, a_job.ttl.as_deref()),
        (Some(10), Some("P30D"))
    );
    assert_eq!(a_job.failure_policy, Some(custom_policy));
    let b_job = &listed[1];
    assert_eq!(b_job.due_time.as_deref(), Some("90m"));
    assert_eq!(b_job.data, Some(string_any("b")));
    let Some(Policy::Constant(default)) = b_job.failure_policy.and_then(|p| p.policy) else {
        panic!(
            "expected the default constant policy, got {:?}",
            b_job.failure_policy
        );
    };
    assert_eq!(default.max_retries, Some(3));
    assert_eq!(default.interval.map(|interval| interval.seconds), Some(1));
    // Another app id sees none of them.
    assert!(other.client.list_jobs().await.unwrap().is_empty());
    assert_eq!(other.client.get_job("a-job").await.unwrap(), None);
    // dapr-kit reads the same job.
    let through_kit = app.client.get_job("b-job").await.unwrap().unwrap();
    assert_eq!(through_kit.due_time.as_deref(), Some("90m"));
}

#[tokio::test]
async fn s3_1_delete_and_delete_by_prefix_remove_only_the_apps_matching_jobs() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app = dapr.client("jobs").await;
    let other = dapr.client("other").await;
    for name in ["reminder-1", "reminder-2", "digest-1"] {
        app.client
            .schedule_job(JobSpec::once(name, "1h"), false)
            .await
            .unwrap();
    }
    other
        .client
        .schedule_job(JobSpec::once("reminder-1", "1h"), false)
        .await
        .unwrap();
    // Deleting an unknown job succeeds (go-etcd-cron's delete is idempotent).
    app.client.delete_job("never-scheduled").await.unwrap();
    let mut client = app.official().await;
    let empty_name = client
        .delete_job(DeleteJobRequest { name: "".into() })
        .await
        .unwrap_err();
    assert_eq!(empty_name.code(), Code::InvalidArgument);
    client
        .delete_jobs_by_prefix(DeleteJobsByPrefixRequest {
            name_prefix: Some("reminder-".into()),
        })
        .await
        .unwrap();
    let names = |jobs: Vec<KitJob>| jobs.into_iter().map(|job| job.name).collect::<Vec<_>>();
    assert_eq!(names(app.client.list_jobs().await.unwrap()), ["digest-1"]);
    assert_eq!(
        names(other.client.list_jobs().await.unwrap()),
        ["reminder-1"]
    );
    app.client.delete_job("digest-1").await.unwrap();
    assert_eq!(app.client.get_job("digest-1").await.unwrap(), None);
    // An empty prefix deletes every job of the app, and only of the app.
    app.client
        .schedule_job(JobSpec::once("digest-2", "1h"), false)
        .await
        .unwrap();
    client
        .delete_jobs_by_prefix(DeleteJobsByPrefixRequest { name_prefix: None })
        .await
        .unwrap();
    assert!(app.client.list_jobs().await.unwrap().is_empty());
    assert_eq!(
        names(other.client.list_jobs().await.unwrap()),
        ["reminder-1"]
    );
}

#[tokio::test]
#[allow(deprecated)]
async fn s1_3_the_alpha1_twins_run_the_same_code() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let mut client = dapr.client("jobs").await.official().await;
    let job = Job {
        due_time: Some("1h".into()),
        ..job("alpha")
    };
    client
        .schedule_job_alpha1(schedule(job.clone(), false))
        .await
        .unwrap();
    let taken = client
        .schedule_job_alpha1(schedule(job, false))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let read = client
        .get_job_alpha1(GetJobRequest {
            name: "alpha".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.job.unwrap().due_time.as_deref(), Some("1h"));
    let listed = client
        .list_jobs_alpha1(ListJobsRequestAlpha1 {})
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(listed.len(), 1);
    client
        .delete_job_alpha1(DeleteJobRequest {
            name: "alpha".into(),
        })
        .await
        .unwrap();
    let missing = client
        .get_job_alpha1(GetJobRequest {
            name: "alpha".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Internal);
    client
        .schedule_job_alpha1(schedule(
            Job {
                due_time: Some("1h".into()),
                ..self::job("beta")
            },
            false,
        ))
        .await
        .unwrap();
    client
        .delete_jobs_by_prefix_alpha1(DeleteJobsByPrefixRequestAlpha1 {
            name_prefix: Some("be".into()),
        })
        .await
        .unwrap();
    assert!(
        client
            .list_jobs(ListJobsRequest {})
            .await
            .unwrap()
            .into_inner()
            .jobs
            .is_empty()
    );
}

#[tokio::test]
async fn s10_3_the_official_dapr_client_schedules_gets_and_deletes_a_job() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app = dapr.client("jobs").await;
    let mut client = app.official_sdk().await;
    let job = dapr::client::JobBuilder::new("official-1")
        .with_schedule("@every 1h")
        .with_repeats(3)
        .with_data(string_any("payload"))
        .build();
    client.schedule_job(job, None).await.unwrap();
    let read = client.get_job("official-1").await.unwrap().job.unwrap();
    assert_eq!(read.schedule.as_deref(), Some("@every 1h"));
    assert_eq!(read.repeats, Some(3));
    assert_eq!(read.data, Some(string_any("payload")));
    client.delete_job("official-1").await.unwrap();
    let missing = client.get_job("official-1").await.unwrap_err();
    let message = missing.to_string();
    assert!(
        message.contains("Internal") && message.contains("job not found"),
        "{message}"
    );
}
