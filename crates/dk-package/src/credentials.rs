//! Registry credentials, as `docker login` leaves them: `DK_REGISTRY_USER`/`DK_REGISTRY_PASSWORD`
//! first, then the Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//! `credHelpers` for the registry, `credsStore`, then `auths`. Helpers are the
//! `docker-credential-<name>` programs of Docker's credential-helper protocol.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;

use crate::PackageError;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Where they came from, for messages (never the secret).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// A Docker config is a few KiB of JSON.
const DOCKER_CONFIG_LIMIT: u64 = 4 << 20;

/// Where to look.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    /// `DK_REGISTRY_USER` and `DK_REGISTRY_PASSWORD`.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The Docker config folder (`DOCKER_CONFIG`, else `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// `PATH`, to find credential helpers.
    pub path: Option<String>,
    /// How long a credential helper may take before it is killed ([`HELPER_TIMEOUT`] when
    /// unset): a helper waiting on a locked keychain or a prompt must not hang dk.
    pub helper_timeout: Option<Duration>,
}

/// How long a credential helper may take, unless the caller bounds it otherwise.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// `https://index.docker.io/v1/` and `ghcr.io` alike, down to the host.
fn host_of(key: &str) -> &str {
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    key.split('/').next().unwrap_or(key)
}

/// The credentials for `registry` (`host[:port]`), if any are configured.
pub fn lookup(
    registry: &str,
    sources: &CredentialSources,
) -> Result<Option<Credentials>, PackageError> {
    if let (Some(username), Some(password)) = (&sources.user, &sources.password) {
        return Ok(Some(Credentials {
            username: username.clone(),
            password: password.clone(),
            source: "DK_REGISTRY_USER/DK_REGISTRY_PASSWORD".into(),
        }));
    }
    let Some(dir) = &sources.docker_config else {
        return Ok(None);
    };
    let file = dir.join("config.json");
    let config: DockerConfig = match dk_fs::read(&file, DOCKER_CONFIG_LIMIT) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|err| PackageError::Credentials(format!("{}: {err}", file.display())))?,
        Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(None),
        Err(err) => return Err(PackageError::fs(&file, err)),
    };
    let helper = config
        .cred_helpers
        .iter()
        .find(|(key, _)| host_of(key) == registry)
        .map(|(key, helper)| (key.as_str(), helper.as_str()));
    if let Some((key, helper)) = helper {
        return from_helper(helper, key, sources);
    }
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| host_of(key) == registry);
    if let Some(store) = &config.creds_store
        && let Some(found) = from_helper(
            store,
            entry.map_or(registry, |(key, _)| key.as_str()),
            sources,
        )?
    {
        return Ok(Some(found));
    }
    let Some((key, entry)) = entry else {
        return Ok(None);
    };
    let source = format!("{} (auths.{key})", file.display());
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: username.clone(),
            password: password.clone(),
            source,
        }));
    }
    let Some(encoded) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            PackageError::Credentials(format!("{source}: auth is not base64 of user:password"))
        })?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| PackageError::Credentials(format!("{source}: auth is not user:password")))?;
    Ok(Some(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
        source,
    }))
}

fn find_program(name: &str, path: Option<&str>) -> Option<PathBuf> {
    std::env::split_paths(path.unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `docker-credential-<helper> get`, with the server URL on stdin, in a process group of its
/// own that is killed whole (the helper and whatever it started) when it outlasts the timeout.
fn from_helper(
    helper: &str,
    server: &str,
    sources: &CredentialSources,
) -> Result<Option<Credentials>, PackageError> {
    use std::os::unix::process::CommandExt;
    let program = format!("docker-credential-{helper}");
    let executable = find_program(&program, sources.path.as_deref()).ok_or_else(|| {
        PackageError::Credentials(format!(
            "the Docker config names the credential helper `{helper}`, but {program} is not on PATH"
        ))
    })?;
    let mut child = Command::new(&executable)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|err| PackageError::io(Path::new(&program), err))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let timeout = sources.helper_timeout.unwrap_or(HELPER_TIMEOUT);
    let output = wait_bounded(child, timeout)
        .map_err(|err| PackageError::io(Path::new(&program), err))?
        .ok_or_else(|| {
            PackageError::Credentials(format!(
                "{program} get did not answer within {}s and was stopped (a locked keychain or a prompt waiting for input?)",
                timeout.as_secs_f32()
            ))
        })?;
    if !output.status.success() {
        // The protocol's answer for "nothing stored for this server".
        let text = String::from_utf8_lossy(&output.stdout);
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(PackageError::Credentials(format!(
            "{program} get failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|err| PackageError::Credentials(format!("{program} get: {err}")))?;
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
        source: program,
    }))
}

/// A helper's answer is a few hundred bytes; more is not an answer.
const HELPER_OUTPUT_LIMIT: u64 = 1 << 20;

/// The output of `child`, or `None` when it ran past `timeout`: then its process group is killed
/// (before the helper is reaped, so that its id cannot have been reused) and the helper reaped.
/// Its pipes are read while it runs, so a chatty helper cannot block on them; a process it left
/// behind holding them is killed with its group at the deadline, and one that escaped the group
/// costs its output, never a hang.
fn wait_bounded(
    mut child: std::process::Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::Output>> {
    use std::io::Read;
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(HELPER_OUTPUT_LIMIT).read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let readers = [drain(child.stdout.take()), drain(child.stderr.take())];
    let kill_group = |child: &std::process::Child| {
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            kill_group(&child);
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(POLL);
    };
    let mut grace = deadline;
    while readers.iter().any(|reader| !reader.is_finished()) {
        if Instant::now() >= grace {
            if grace == deadline {
                kill_group(&child);
                grace = Instant::now() + POLL * 50;
                continue;
            }
            break;
        }
        std::thread::sleep(POLL);
    }
    let [stdout, stderr] = readers.map(|reader| {
        if reader.is_finished() {
            reader.join().unwrap_or_default()
        } else {
            Vec::new()
        }
    });
    Ok(Some(std::process::Output {
        status,
        stdout,
        stderr,
    }))
}

/// How often a helper is looked at while it runs.
const POLL: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path) -> CredentialSources {
        CredentialSources {
            docker_config: Some(dir.to_owned()),
            path: Some(dir.display().to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn auths_entries_decode_user_and_password() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("ada:s3cr3t");
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths": {{"https://127.0.0.1:5000/v1/": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        let found = lookup("127.0.0.1:5000", &sources(dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("ada", "s3cr3t")
        );
        assert!(
            !format!("{found:?}").contains("s3cr3t"),
            "Debug hides the secret"
        );
        assert_eq!(lookup("ghcr.io", &sources(dir.path())).unwrap(), None);
    }

    #[test]
    fn credential_helpers_are_asked_over_stdin() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-test");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\necho \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"bot\\\",\\\"Secret\\\":\\\"from-$server\\\"}\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credHelpers": {"ghcr.io": "test"}, "credsStore": "test", "auths": {"quay.io": {}}}"#,
        )
        .unwrap();
        let found = lookup("ghcr.io", &sources(dir.path())).unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("bot", "from-ghcr.io")
        );
        let stored = lookup("quay.io", &sources(dir.path())).unwrap().unwrap();
        assert_eq!(stored.password, "from-quay.io", "credsStore for the rest");
        let env = CredentialSources {
            user: Some("u".into()),
            password: Some("p".into()),
            ..sources(dir.path())
        };
        assert_eq!(lookup("ghcr.io", &env).unwrap().unwrap().username, "u");
    }

    /// A helper that never answers (and started a child of its own that holds its pipes) is
    /// stopped at the timeout, with everything it started.
    #[test]
    fn a_hanging_credential_helper_is_killed_with_its_children() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        std::fs::write(
            dir.path().join("docker-credential-hang"),
            format!(
                "#!/bin/sh\nsleep 1000 &\necho $$ $! > {}\nwhile :; do sleep 1; done\n",
                pids.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            dir.path().join("docker-credential-hang"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credHelpers": {"ghcr.io": "hang"}}"#,
        )
        .unwrap();
        let bounded = CredentialSources {
            helper_timeout: Some(Duration::from_millis(500)),
            ..sources(dir.path())
        };
        let err = lookup("ghcr.io", &bounded).unwrap_err();
        assert!(err.to_string().contains("did not answer"), "{err}");
        let started = std::fs::read_to_string(&pids).unwrap();
        for pid in started.split_whitespace() {
            let pid: i32 = pid.parse().unwrap();
            // Reaped (the helper) or killed and re-parented (its sleep): gone either way, once
            // init has reaped it.
            let gone = (0..100).any(|_| {
                let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| !stat.contains(") Z "));
                if alive {
                    std::thread::sleep(Duration::from_millis(20));
                }
                !alive
            });
            assert!(gone, "process {pid} of the helper still runs");
        }
    }
}
