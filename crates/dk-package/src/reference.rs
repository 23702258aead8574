//! Where an artifact lives: a registry repository (`host[:port]/path:tag`) or a name in the
//! local layout (`namespace/name:tag`).

use crate::PackageError;

/// A parsed artifact reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactRef {
    /// `org.opencontainers.image.ref.name` in the local layout: `namespace/name:tag`.
    Local {
        name: String,
        tag: String,
    },
    Remote(RemoteRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl RemoteRef {
    /// The reference `<registry>/<namespace>/<name>:<tag>` of a package in a registry setting
    /// (`ghcr.io/my-org`), validated.
    pub fn in_registry(
        registry: &str,
        namespace: &str,
        name: &str,
        tag: &str,
    ) -> Result<RemoteRef, PackageError> {
        let (host, prefix) = parse_registry(registry)?;
        let repository = [prefix.as_deref(), Some(namespace), Some(name)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
        let target = RemoteRef {
            registry: host,
            repository,
            tag: Some(tag.to_owned()),
            digest: None,
        };
        target.validate()?;
        Ok(target)
    }

    /// Checks host, repository and tag against the OCI distribution grammar, so that no request
    /// leaves `/v2/<repository>/` or goes to a host that is not one.
    pub fn validate(&self) -> Result<(), PackageError> {
        check_host(&self.registry)?;
        check_repository(&self.repository)?;
        if let Some(tag) = &self.tag {
            check_tag(tag)?;
        }
        if let Some(digest) = &self.digest {
            crate::layout::digest_hex(digest)
                .map_err(|err| PackageError::InvalidReference(err.to_string()))?;
        }
        Ok(())
    }

    /// The tag, else the digest: what the manifest is fetched by.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The package name: the repository's last component.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl std::fmt::Display for RemoteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl ArtifactRef {
    /// The local layout's name of a package's artifact.
    pub fn local(namespace: &str, name: &str, tag: &str) -> ArtifactRef {
        ArtifactRef::Local {
            name: format!("{namespace}/{name}"),
            tag: tag.to_owned(),
        }
    }

    /// `namespace/name:tag` for local artifacts.
    pub fn ref_name(&self) -> String {
        match self {
            ArtifactRef::Local { name, tag } => format!("{name}:{tag}"),
            ArtifactRef::Remote(remote) => remote.to_string(),
        }
    }

    /// As Docker decides: the first component names a registry when it has a `.` or a `:` or is
    /// `localhost`; otherwise the reference is local (`demo:v1` means `default/demo:v1`).
    pub fn parse(text: &str) -> Result<ArtifactRef, PackageError> {
        if text.split('/').next().unwrap_or_default().contains('@') {
            return Err(credentials_refused("the reference"));
        }
        let invalid = |why: &str| {
            PackageError::InvalidReference(format!(
                "`{}` is not an artifact reference: {why} (e.g. default/demo:v1.0.0 or ghcr.io/org/default/demo:v1.0.0)",
                text.escape_debug()
            ))
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                crate::layout::digest_hex(digest).map_err(|_| invalid("a bad digest"))?;
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        // A tag follows the last ':' after the last '/' (a port's ':' comes before a '/').
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        if path.is_empty() || tag.as_deref() == Some("") {
            return Err(invalid("empty name or tag"));
        }
        let first = path.split('/').next().unwrap_or_default();
        let remote = path.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        if remote {
            let (registry, repository) = path.split_once('/').expect("has a '/'");
            let remote = RemoteRef {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                tag,
                digest,
            };
            remote.validate()?;
            return Ok(ArtifactRef::Remote(remote));
        }
        if digest.is_some() {
            return Err(invalid("local artifacts are named by tag"));
        }
        let tag = tag.ok_or_else(|| invalid("a local artifact needs a tag"))?;
        let name = if path.contains('/') {
            path.to_owned()
        } else {
            format!("default/{path}")
        };
        check_repository(&name)?;
        check_tag(&tag)?;
        Ok(ArtifactRef::Local { name, tag })
    }
}

/// A registry setting (`ghcr.io/my-org`, `127.0.0.1:5000/team`) split into host and path prefix.
pub fn split_registry(registry: &str) -> (String, Option<String>) {
    let trimmed = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match trimmed.split_once('/') {
        Some((host, prefix)) => (host.to_owned(), Some(prefix.to_owned())),
        None => (trimmed.to_owned(), None),
    }
}

/// A registry setting split into host and path prefix, both validated; credentials in it
/// (`user:password@host`) are refused without repeating them.
pub fn parse_registry(registry: &str) -> Result<(String, Option<String>), PackageError> {
    let (host, prefix) = split_registry(registry);
    if host.contains('@') {
        return Err(credentials_refused("the registry"));
    }
    check_host(&host)?;
    if let Some(prefix) = &prefix {
        check_repository(prefix)?;
    }
    Ok((host, prefix))
}

fn credentials_refused(what: &str) -> PackageError {
    PackageError::InvalidReference(format!(
        "{what} holds credentials (user:password@host); dk never takes them there, so that they do not reach shell history, logs or output. Sign in with `docker login HOST`, or set DK_REGISTRY_USER and DK_REGISTRY_PASSWORD"
    ))
}

fn reference_error(what: &str, text: &str, rule: &str) -> PackageError {
    PackageError::InvalidReference(format!(
        "{what} `{}` is not valid: {rule}",
        text.escape_debug()
    ))
}

/// `host[:port]`: DNS labels or an IPv4 address, or `[IPv6]`, with an optional port.
pub fn check_host(host: &str) -> Result<(), PackageError> {
    let invalid = || {
        reference_error(
            "registry host",
            host,
            "expected host[:port] (letters, digits, '-' and '.', e.g. ghcr.io or 127.0.0.1:5000)",
        )
    };
    let (name, port) = match host.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, rest) = bracketed.split_once(']').ok_or_else(invalid)?;
            ip.parse::<std::net::Ipv6Addr>().map_err(|_| invalid())?;
            match rest {
                "" => return Ok(()),
                _ => ("", Some(rest.strip_prefix(':').ok_or_else(invalid)?)),
            }
        }
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    if let Some(port) = port
        && !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(invalid());
    }
    if name.is_empty() && host.starts_with('[') {
        return Ok(());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(invalid());
    }
    Ok(())
}

/// One path component of a repository: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        if !(separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-'))
        {
            return false;
        }
    }
    true
}

/// A repository path (`team/default/demo`): components of the OCI distribution grammar.
pub fn check_repository(repository: &str) -> Result<(), PackageError> {
    if repository.len() > 255 || !repository.split('/').all(component_ok) {
        return Err(reference_error(
            "repository",
            repository,
            "each /-separated part is lowercase letters and digits, joined by '.', '_', '__' or dashes (e.g. team/default/demo)",
        ));
    }
    Ok(())
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), PackageError> {
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(reference_error(
            "tag",
            tag,
            "letters, digits, '.', '_' and '-', at most 128, not starting with '.' or '-' (e.g. v1.0.0; '+build' metadata cannot be a tag)",
        ));
    }
    Ok(())
}

/// Whether a registry host is this machine (plain HTTP is used for it).
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A semantic version tag, with or without a leading `v`: the version it stands for.
pub fn semver_of(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_local_or_remote_as_docker_decides() {
        assert_eq!(
            ArtifactRef::parse("demo:v1.0.0").unwrap(),
            ArtifactRef::Local {
                name: "default/demo".into(),
                tag: "v1.0.0".into()
            }
        );
        assert_eq!(
            ArtifactRef::parse("team/demo:1.0.0").unwrap().ref_name(),
            "team/demo:1.0.0"
        );
        let ArtifactRef::Remote(remote) =
            ArtifactRef::parse("127.0.0.1:5000/team/default/demo:v1.0.0").unwrap()
        else {
            panic!("remote")
        };
        assert_eq!(remote.registry, "127.0.0.1:5000");
        assert_eq!(remote.repository, "team/default/demo");
        assert_eq!(remote.tag.as_deref(), Some("v1.0.0"));
        assert_eq!(remote.name(), "demo");
        assert!(ArtifactRef::parse("demo").is_err());
        assert!(ArtifactRef::parse("ghcr.io/org/demo@sha256:abc").is_err());
    }

    #[test]
    fn references_follow_the_oci_grammar() {
        for bad in [
            "127.0.0.1:5000/../../tmp/x:v1",
            "127.0.0.1:5000/a/../b:v1",
            "127.0.0.1:5000/team/Demo:v1",
            "127.0.0.1:5000/team/d\u{1f600}:v1",
            "127.0.0.1:5000/team/demo:v1\nx",
            "127.0.0.1:5000//demo:v1",
            "../x/demo:v1",
            "default/a..b:v1",
            "default/demo:.hidden",
            "default/demo:v1.0.0+build",
        ] {
            assert!(
                matches!(
                    ArtifactRef::parse(bad),
                    Err(PackageError::InvalidReference(_))
                ),
                "{bad:?}"
            );
        }
        for host in [
            "..",
            "a..b",
            "-a.com",
            "a.com:0",
            "a.com:99999",
            "a.com:x",
            "",
            "[::1",
        ] {
            assert!(check_host(host).is_err(), "{host:?}");
        }
        for host in [
            "ghcr.io",
            "127.0.0.1:5000",
            "localhost",
            "[::1]:5000",
            "my-reg.example.com",
        ] {
            assert!(check_host(host).is_ok(), "{host:?}");
        }
        assert!(check_repository("team/default/my_pkg.v2__x--y").is_ok());
        assert!(RemoteRef::in_registry("127.0.0.1:5000/team", "../../tmp", "x", "v1").is_err());
        assert!(RemoteRef::in_registry("127.0.0.1:5000/team", "default", "demo", "v1.0.0").is_ok());
    }

    #[test]
    fn credentials_in_a_registry_are_refused_without_echo() {
        for text in ["ada:hunter2@ghcr.io/org", "https://ada:hunter2@ghcr.io"] {
            let err = parse_registry(text).unwrap_err().to_string();
            assert!(
                !err.contains("hunter2") && err.contains("docker login"),
                "{err}"
            );
        }
        let err = ArtifactRef::parse("ada:hunter2@ghcr.io/org/demo:v1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("ghcr.io"));
        assert_eq!(
            split_registry("ghcr.io/my-org"),
            ("ghcr.io".into(), Some("my-org".into()))
        );
    }

    #[test]
    fn tags_are_semver_with_or_without_v() {
        assert_eq!(semver_of("v1.2.3").unwrap().to_string(), "1.2.3");
        assert_eq!(semver_of("1.2.3-rc.1").unwrap().to_string(), "1.2.3-rc.1");
        assert!(semver_of("latest").is_none());
    }
}
