//! `dk doctor`'s view of GitOps: the repository promotions push to answers, and the token of its
//! provider is set.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use dk_config::doctor::Check;
use dk_config::env::{Env, GITEA_TOKEN, GITHUB_TOKEN, GITLAB_TOKEN};

use crate::repo::public_url;

/// The repository (`gitops.repo`, else `default_repo`) and the token `provider` needs.
pub fn checks(
    repo: Option<&str>,
    default_repo: &Path,
    provider: &str,
    env: &Env,
    timeout: Duration,
) -> Vec<Check> {
    let repository = match repo {
        None if default_repo.is_dir() => Check::ok(
            "gitops repo",
            format!("{} (the embedded default)", default_repo.display()),
        ),
        None => Check::skip(
            "gitops repo",
            "none yet: `dk gitops init` creates one in $DK_HOME/gitops",
        ),
        Some(url) => reachable(url, timeout),
    };
    let token = match provider {
        "github" => Some(GITHUB_TOKEN),
        "gitea" => Some(GITEA_TOKEN),
        "gitlab" => Some(GITLAB_TOKEN),
        _ => None,
    };
    let token = match token {
        None => Check::ok(
            "gitops token",
            format!("the {provider} provider needs none"),
        ),
        Some(variable) if env.get(variable).is_some_and(|value| !value.is_empty()) => {
            Check::ok("gitops token", format!("{variable} is set"))
        }
        Some(variable) => Check::fail(
            "gitops token",
            format!("{variable} is not set: the {provider} provider cannot open pull requests"),
            format!(
                "export {variable}=TOKEN (a token that may push branches and open pull requests)"
            ),
        ),
    };
    vec![repository, token]
}

/// A local repository exists; a remote one accepts connections (https: answers HTTP).
fn reachable(url: &str, timeout: Duration) -> Check {
    let shown = public_url(url);
    let fail = |reason: String| {
        Check::fail(
            "gitops repo",
            format!("cannot reach {shown} ({reason})"),
            "check the address (dk config get gitops.repo) and your network",
        )
    };
    if url.starts_with("https://") || url.starts_with("http://") {
        let answer = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .and_then(|client| client.get(&shown).send());
        return match answer {
            Ok(_) => Check::ok("gitops repo", format!("{shown} answers")),
            Err(err) if err.is_timeout() => fail("timed out".into()),
            Err(err) if err.is_connect() => fail("cannot connect".into()),
            Err(err) => fail(err.to_string()),
        };
    }
    if let Some(address) = ssh_address(url) {
        let connected = address
            .to_socket_addrs()
            .map_err(|err| err.to_string())
            .and_then(|mut addresses| {
                let first = addresses.next().ok_or("no address")?;
                TcpStream::connect_timeout(&first, timeout).map_err(|err| err.to_string())
            });
        return match connected {
            Ok(_) => Check::ok("gitops repo", format!("{shown} accepts connections")),
            Err(reason) => fail(reason),
        };
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if Path::new(path).is_dir() {
        Check::ok("gitops repo", path.to_owned())
    } else {
        Check::fail(
            "gitops repo",
            format!("{path} does not exist"),
            "dk gitops init creates it, or dk config set gitops.repo URL",
        )
    }
}

/// `host:port` of an ssh URL (`ssh://git@host:2222/x`, `git@host:org/x`).
fn ssh_address(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let authority = rest.split('/').next()?;
        let host = authority.rsplit('@').next()?;
        return Some(match host.contains(':') {
            true => host.to_owned(),
            false => format!("{host}:22"),
        });
    }
    let (user_host, _) = url.split_once(':')?;
    let (_, host) = user_host.split_once('@')?;
    (!host.is_empty() && !user_host.contains('/')).then(|| format!("{host}:22"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dk_config::doctor::Level;

    #[test]
    fn ssh_urls_name_their_host_and_port() {
        assert_eq!(
            ssh_address("git@github.com:org/gitops.git").as_deref(),
            Some("github.com:22")
        );
        assert_eq!(
            ssh_address("ssh://git@git.example:2222/org/x.git").as_deref(),
            Some("git.example:2222")
        );
        assert_eq!(ssh_address("/srv/gitops"), None);
    }

    #[test]
    fn a_forge_provider_without_its_token_fails_and_never_shows_a_token() {
        let env = Env::capture(|name| (name == GITEA_TOKEN).then(|| "s3cret".to_owned()));
        let dir = tempfile::tempdir().unwrap();
        let github = checks(None, dir.path(), "github", &env, Duration::from_secs(1));
        assert_eq!(github[1].level, Level::Fail);
        assert!(github[1].fix.as_deref().unwrap().contains("GITHUB_TOKEN"));
        let gitea = checks(None, dir.path(), "gitea", &env, Duration::from_secs(1));
        assert_eq!(gitea[1].level, Level::Ok);
        assert!(!format!("{gitea:?}").contains("s3cret"));
    }
}
