//! The shapes of what a promotion puts into paths, branch names and URLs: packages,
//! environments, cells and namespaces are DNS labels, versions are semver (an optional leading
//! `v`). Checked before any use, so `../../tmp/x` never becomes a folder of the GitOps
//! repository or a branch.

use dk_manifest::model::is_dns_label;

use crate::GitOpsError;
use crate::forge::BRANCH_PREFIX;

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

/// A promotion named on the command line: a pull request (`12`, `#12`, `!12`) or a promotion
/// branch `dk/<kind>/<env>/<cell>/<package>/<version>` whose parts have their shapes.
pub fn promotion_id(value: &str) -> Result<&str, GitOpsError> {
    let number = value.trim_start_matches(['#', '!']);
    if !number.is_empty() && number.len() <= 20 && number.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(value);
    }
    let bad = || GitOpsError::BadName {
        what: "promotion",
        value: value.to_owned(),
        rule: "a pull request number (#12, !12) or a branch dk/promote|rollback/ENV/CELL/PACKAGE/VERSION",
    };
    let parts: Vec<&str> = value
        .strip_prefix(&format!("{BRANCH_PREFIX}/"))
        .ok_or_else(bad)?
        .split('/')
        .collect();
    let [kind, env, cell, package, version] = parts[..] else {
        return Err(bad());
    };
    if !matches!(kind, "promote" | "rollback") {
        return Err(bad());
    }
    label("environment", env)?;
    label("cell", cell)?;
    label("package", package)?;
    self::version(version)?;
    Ok(value)
}

/// The values file a promotion branch (`dk/<kind>/<env>/<cell>/<package>/<version>`) changes.
pub fn values_path_of(branch: &str) -> Option<String> {
    promotion_id(branch).ok()?;
    let parts: Vec<&str> = branch.split('/').collect();
    let [_, _, env, cell, package, _] = parts[..] else {
        return None;
    };
    Some(crate::repo::values_path(env, cell, package))
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

    #[test]
    fn promotion_ids_are_numbers_or_promotion_branches() {
        for good in ["12", "#12", "!7", "dk/promote/prod/c0/my-pkg/v1.0.0"] {
            assert!(promotion_id(good).is_ok(), "{good}");
        }
        assert_eq!(
            values_path_of("dk/rollback/prod/c1/my-pkg/v1.0.0").as_deref(),
            Some("envs/prod/cells/c1/apps/my-pkg/values.yaml")
        );
        assert_eq!(values_path_of("#12"), None);
        for bad in [
            "#",
            "main",
            "dk/promote/prod/c0/my-pkg",
            "dk/promote/prod/c0/../../etc/v1.0.0",
            "dk/merge/prod/c0/my-pkg/v1.0.0",
            "dk/promote/prod/c0/my-pkg/v1.0.0/x",
            "dk/promote/PROD/c0/my-pkg/v1.0.0",
        ] {
            assert!(promotion_id(bad).is_err(), "{bad:?}");
        }
    }
}
