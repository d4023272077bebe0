//! The API tokens of a run, so a local run is authenticated as production is (reference §8.2):
//! each app whose run-file env does not set them gets a random `DAPR_API_TOKEN` (its sidecar
//! refuses callers without it) and `APP_API_TOKEN` (its sidecar sends it; the app refuses calls
//! without it). Without them any local process could read secrets and state through a sidecar
//! or claim to be another app on an app port.
//!
//! Tokens are fresh each run (a token that leaks dies with the run) and never logged. They are
//! written to `<data dir>/tokens.json` (mode 0600, the directory 0700) after the data directory
//! is locked, for a developer who wants to call a sidecar by hand. A run-file variable set to
//! an empty string turns that token off for that app, deliberately.

use std::{
    collections::BTreeMap,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use rand::Rng;
use tokio::io::AsyncWriteExt;

use super::RunApp;

/// The token callers of a sidecar must send (`dapr-api-token`).
pub const ENV_DAPR_API_TOKEN: &str = "DAPR_API_TOKEN";
/// The token a sidecar sends to its app (`dapr-api-token`), which the app requires.
pub const ENV_APP_API_TOKEN: &str = "APP_API_TOKEN";
/// The file under the data directory with every app's tokens of the current run.
pub const TOKENS_FILE: &str = "tokens.json";

/// The tokens file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the run's api tokens to {path}")]
pub struct TokensError {
    /// The file or directory.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Gives every app a random value for each token its env does not mention; the replicas of an
/// app id (listed again) share its first entry's tokens, as a Deployment's pods share a secret.
pub fn assign(apps: &mut [RunApp]) {
    let mut assigned: BTreeMap<String, BTreeMap<&str, String>> = BTreeMap::new();
    for app in apps {
        let shared = assigned.entry(app.app_id.clone()).or_default();
        for variable in [ENV_DAPR_API_TOKEN, ENV_APP_API_TOKEN] {
            let value = app
                .env
                .entry(variable.to_string())
                .or_insert_with(|| shared.get(variable).cloned().unwrap_or_else(random_token));
            shared.entry(variable).or_insert_with(|| value.clone());
        }
    }
}

/// The token `variable` of `app`, or `None` when it is turned off (an empty value).
pub fn token(app: &RunApp, variable: &str) -> Option<String> {
    app.env
        .get(variable)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .map(str::to_string)
}

/// Writes `<data_dir>/tokens.json`: `{"<app id>": {"DAPR_API_TOKEN": .., "APP_API_TOKEN": ..}}`
/// with the tokens in use (`null` when turned off), readable by the owner only. The directory
/// is made (or tightened to) 0700: it also holds the database and the local secrets.
///
/// # Errors
/// When the directory or the file cannot be written.
pub async fn write(data_dir: &Path, apps: &[RunApp]) -> Result<PathBuf, TokensError> {
    let error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TokensError { path, source }
    };
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .await
        .map_err(error(data_dir))?;
    let permissions = tokio::fs::metadata(data_dir)
        .await
        .map_err(error(data_dir))?
        .permissions();
    if permissions.mode() & 0o077 != 0 {
        tracing::info!(data_dir = %data_dir.display(), "making the data directory private (0700)");
        tokio::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
            .await
            .map_err(error(data_dir))?;
    }
    let tokens: BTreeMap<&str, BTreeMap<&str, Option<String>>> = apps
        .iter()
        .map(|app| {
            let tokens = [ENV_DAPR_API_TOKEN, ENV_APP_API_TOKEN]
                .map(|variable| (variable, token(app, variable)));
            (app.app_id.as_str(), tokens.into())
        })
        .collect();
    let text = serde_json::to_string_pretty(&tokens).expect("a map of strings serializes");
    // Written beside the target and renamed over it, so a reader never sees half a file and the
    // file never exists with wider permissions, not even for a moment.
    let path = data_dir.join(TOKENS_FILE);
    let staging = data_dir.join(format!("{TOKENS_FILE}.tmp"));
    match tokio::fs::remove_file(&staging).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(&staging)(e)),
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staging)
        .await
        .map_err(error(&staging))?;
    file.write_all(text.as_bytes())
        .await
        .map_err(error(&staging))?;
    file.flush().await.map_err(error(&staging))?;
    drop(file);
    tokio::fs::rename(&staging, &path)
        .await
        .map_err(error(&path))?;
    Ok(path)
}

/// 32 random bytes from the thread's CSPRNG (ChaCha, seeded by the OS), as 64 hex digits.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::runner::RunFile;

    fn apps(text: &str) -> Vec<RunApp> {
        RunFile::parse(text, Path::new(".")).unwrap().apps
    }

    #[test]
    fn the_replicas_of_an_app_share_its_tokens() {
        let mut apps = apps(
            "common: {resourcesPath: r}\napps:\n  - appID: sync\n  - appID: other\n  - appID: sync\n",
        );
        assign(&mut apps);
        for variable in [ENV_DAPR_API_TOKEN, ENV_APP_API_TOKEN] {
            assert_eq!(
                token(&apps[0], variable),
                token(&apps[2], variable),
                "{variable}"
            );
            assert_ne!(
                token(&apps[0], variable),
                token(&apps[1], variable),
                "{variable}"
            );
        }
    }

    #[test]
    fn each_app_gets_its_own_random_tokens_unless_the_run_file_sets_them() {
        let mut apps = apps(
            "common: {resourcesPath: r}\napps:\n  - appID: a\n  - appID: b\n  - appID: set\n    env: {DAPR_API_TOKEN: mine, APP_API_TOKEN: ours}\n  - appID: off\n    env: {DAPR_API_TOKEN: '', APP_API_TOKEN: ' '}\n",
        );
        assign(&mut apps);
        let token_of = |index: usize, variable| token(&apps[index], variable);
        let generated: HashSet<_> = [0, 1]
            .into_iter()
            .flat_map(|i| [ENV_DAPR_API_TOKEN, ENV_APP_API_TOKEN].map(|v| token_of(i, v)))
            .map(Option::unwrap)
            .collect();
        assert_eq!(generated.len(), 4, "every token differs: {generated:?}");
        assert!(
            generated
                .iter()
                .all(|t| t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit())),
            "32 random bytes in hex"
        );
        assert_eq!(
            [ENV_DAPR_API_TOKEN, ENV_APP_API_TOKEN].map(|v| token_of(2, v)),
            [Some("mine".to_string()), Some("ours".to_string())],
            "the run file's tokens are kept"
        );
        assert_eq!(
            [ENV_DAPR_API_TOKEN, ENV_APP_API_TOKEN].map(|v| token_of(3, v)),
            [None, None],
            "an empty value turns the token off"
        );
        assert_eq!(
            apps[3].env.get(ENV_APP_API_TOKEN).map(String::as_str),
            Some(" "),
            "and stays set for the app, so a value inherited from the shell cannot apply"
        );
    }

    #[tokio::test]
    async fn the_tokens_file_is_private_in_a_private_directory() {
        let parent = tempfile::tempdir().unwrap();
        let shared = parent.path().join("data");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut apps = apps("common: {resourcesPath: r}\napps: [{appID: a}]\n");
        assign(&mut apps);
        for data_dir in [shared, parent.path().join("fresh/nested")] {
            let path = write(&data_dir, &apps).await.unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&data_dir), 0o700, "{}", data_dir.display());
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            let written: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(
                written["a"][ENV_DAPR_API_TOKEN].as_str(),
                token(&apps[0], ENV_DAPR_API_TOKEN).as_deref()
            );
            assert!(!data_dir.join(format!("{TOKENS_FILE}.tmp")).exists());
        }
    }
}
