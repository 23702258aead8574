//! `dk doctor`'s view of the registry `dk publish` pushes to: does it answer the OCI API, and
//! does dk have credentials for it.

use std::time::{Duration, Instant};

use dk_config::doctor::Check;

use crate::credentials::{self, CredentialSources};
use crate::reference::{is_loopback, parse_registry};
use crate::registry::connection_failure;

/// The registry answers `GET /v2/` (200, or 401 asking for credentials), and credentials for
/// it are found where `dk publish` looks.
pub fn checks(
    registry: Option<&str>,
    sources: &CredentialSources,
    timeout: Duration,
) -> Vec<Check> {
    let Some(registry) = registry else {
        return vec![Check::skip(
            "registry",
            "none set: dk publish writes to the local OCI layout in $DK_HOME/registry",
        )];
    };
    let host = match parse_registry(registry) {
        Ok((host, _)) => host,
        Err(err) => {
            return vec![Check::fail(
                "registry",
                err.to_string(),
                "dk config set registry HOST/PATH, e.g. ghcr.io/my-org",
            )];
        }
    };
    let started = Instant::now();
    let scheme = if is_loopback(&host) { "http" } else { "https" };
    let answer = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .and_then(|client| client.get(format!("{scheme}://{host}/v2/")).send());
    let status = match answer {
        Ok(response) => response.status().as_u16(),
        Err(err) => {
            let reason = connection_failure(&err).unwrap_or_else(|| err.to_string());
            return vec![Check::fail(
                "registry",
                format!("cannot reach {host} ({reason})"),
                format!(
                    "check that the registry at {host} runs and that the address is right (dk config get registry, DK_REGISTRY)"
                ),
            )];
        }
    };
    let reachable = match status {
        200 | 401 => Check::ok("registry", format!("{host} answers the OCI API")),
        other => Check::fail(
            "registry",
            format!("{host} answered /v2/ with HTTP {other}: not an OCI registry there"),
            "check the address: dk config get registry",
        ),
    };
    // The helper gets what the registry's answer left of the budget: dk doctor reports in time.
    let bounded = CredentialSources {
        helper_timeout: Some(
            timeout
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(100)),
        ),
        ..sources.clone()
    };
    let credentials = match credentials::lookup(&host, &bounded) {
        Ok(Some(found)) => Check::ok(
            "registry credentials",
            format!("for {host} from {}", found.source),
        ),
        Ok(None) if status == 200 => Check::ok(
            "registry credentials",
            format!("none, and {host} needs none"),
        ),
        Ok(None) => Check::warn(
            "registry credentials",
            format!("none for {host}: dk publish will be refused"),
            format!("docker login {host}, or set DK_REGISTRY_USER and DK_REGISTRY_PASSWORD"),
        ),
        Err(err) => Check::fail(
            "registry credentials",
            err.to_string(),
            "fix the Docker config (or its credential helper), or set DK_REGISTRY_USER and DK_REGISTRY_PASSWORD",
        ),
    };
    vec![reachable, credentials]
}
