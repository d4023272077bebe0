//! localdapr's own guarantee, beyond the reference: the data directory it creates is `0700` and
//! its database files `0600`, even when it runs under a permissive umask. Checked on the
//! `localdapr` binary, started by a shell that set `umask 000`.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Stdio, time::Duration};

use crate::support::{COMPONENTS, wait_until};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_binary_keeps_its_data_private_under_a_permissive_umask() {
    let root = tempfile::tempdir().unwrap();
    let resources = root.path().join("resources");
    std::fs::create_dir(&resources).unwrap();
    std::fs::write(resources.join("components.yaml"), COMPONENTS).unwrap();
    let data_dir = root.path().join("checkout/.localdapr");
    let control = root.path().join("control");
    let mut sidecar = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(r#"umask 000 && touch "$0" && exec "$@""#)
        .arg(&control)
        .arg(env!("CARGO_BIN_EXE_localdapr"))
        .args(["sidecar", "--app-id", "private"])
        .args([
            "--dapr-grpc-port",
            "0",
            "--dapr-http-port",
            "0",
            "--metrics-port",
            "0",
        ])
        .arg("--resources-path")
        .arg(&resources)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let database_files = [
        "localdapr.db",
        "localdapr.db-wal",
        "localdapr.db-shm",
        "localdapr.lock",
    ];
    wait_until(
        "the sidecar opened its database in WAL mode",
        Duration::from_secs(20),
        || async {
            database_files
                .iter()
                .all(|name| data_dir.join(name).exists())
        },
    )
    .await;
    assert_eq!(mode(&control), 0o666, "the umask really was 000");
    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    for name in database_files {
        assert_eq!(mode(&data_dir.join(name)), 0o600, "{name}");
    }
    sidecar.kill().await.unwrap();
}
