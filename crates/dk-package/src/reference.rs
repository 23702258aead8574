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
        let invalid = |why: &str| {
            PackageError::Invalid(format!(
                "`{text}` is not an artifact reference: {why} (e.g. default/demo:v1.0.0 or ghcr.io/org/default/demo:v1.0.0)"
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
            return Ok(ArtifactRef::Remote(RemoteRef {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                tag,
                digest,
            }));
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
