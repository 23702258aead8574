//! The shapes of what a promotion puts into paths, branch names and URLs: packages,
//! environments, cells and namespaces are DNS labels, versions are semver (an optional leading
//! `v`). Checked before any use, so `../../tmp/x` never becomes a folder of the GitOps
//! repository or a branch.

use dk_manifest::model::is_dns_label;

use crate::GitOpsError;

const DNS_LABEL: &str = "a DNS label (lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters)";
const SEMVER: &str = "a semantic version (1.2.3 or v1.2.3)";

/// `value` as a DNS label; `what` names it in the error (`package`, `environment`, …).
pub fn label<'a>(what: &'static str, value: &'a str) -> Result<&'a str, GitOpsError> {
    if is_dns_label(value) {
        Ok(value)
    } else {
        Err(GitOpsError::BadName {
            what,
            value: value.to_owned(),
            rule: DNS_LABEL,
        })
    }
}

/// `value` as a version: semver, with or without a leading `v`.
pub fn version(value: &str) -> Result<&str, GitOpsError> {
    if semver::Version::parse(value.strip_prefix('v').unwrap_or(value)).is_ok() {
        Ok(value)
    } else {
        Err(GitOpsError::BadName {
            what: "version",
            value: value.to_owned(),
            rule: SEMVER,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "../../tmp/x",
            "a/../b",
            "",
            "dev\nprod",
            "dév",
            "🚀",
            "Dev",
            "-dev",
            &"a".repeat(64),
        ] {
            assert!(label("environment", bad).is_err(), "{bad:?}");
        }
        for good in ["dev", "c0", "my-pkg", "a1"] {
            assert!(label("cell", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn versions_are_semver() {
        for good in ["1.0.0", "v1.0.0", "v2.0.0-rc.1+build.5"] {
            assert!(version(good).is_ok(), "{good}");
        }
        for bad in [
            "", "v1", "latest", "../1.0.0", "1.0.0\n", "v1.0.0/x", "1.0.0 ",
        ] {
            assert!(version(bad).is_err(), "{bad:?}");
        }
    }
}
