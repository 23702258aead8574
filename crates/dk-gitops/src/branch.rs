//! What names a promotion: its kind, its branch `dk/<kind>/<env>/<cell>/<package>/<version>`
//! (formatted here, and parsed back here from whatever a forge or a remote lists), and the id a
//! command line gives for it, a pull request number or a branch. A branch dk would not name is
//! not a promotion: its parts are never printed, used as a path or merged.

use std::fmt;

use serde::Serialize;

use crate::GitOpsError;
use crate::names::{label, version};
use crate::repo::values_path;

/// Branches of promotions start with this.
pub const BRANCH_PREFIX: &str = "dk";

const PROMOTION_ID: &str =
    "a pull request number (#12, !12) or a branch dk/promote|rollback/ENV/CELL/PACKAGE/VERSION";

/// What a promotion does to its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A published version moves into the environment.
    Promotion,
    /// The environment returns to a version it ran before.
    Rollback,
}

impl Kind {
    /// Its pull request label, and its name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Promotion => "promotion",
            Kind::Rollback => "rollback",
        }
    }

    /// Its word in the branch name (and in `dk promote list`'s KIND column).
    pub fn word(self) -> &'static str {
        match self {
            Kind::Promotion => "promote",
            Kind::Rollback => "rollback",
        }
    }

    /// The verb that starts its pull request's title.
    pub fn verb(self) -> &'static str {
        match self {
            Kind::Promotion => "Promote",
            Kind::Rollback => "Roll back",
        }
    }

    fn from_word(word: &str) -> Option<Kind> {
        [Kind::Promotion, Kind::Rollback]
            .into_iter()
            .find(|kind| kind.word() == word)
    }
}

/// A promotion's branch: `dk/<kind>/<env>/<cell>/<package>/<version>`, each part of the shape
/// [`crate::names`] checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchName {
    pub kind: Kind,
    pub env: String,
    pub cell: String,
    pub package: String,
    pub version: String,
}

impl BranchName {
    /// The branch of `kind` for these parts; refuses a part that is not of its shape.
    pub fn new(
        kind: Kind,
        env: &str,
        cell: &str,
        package: &str,
        version: &str,
    ) -> Result<BranchName, GitOpsError> {
        Ok(BranchName {
            kind,
            env: label("environment", env)?.to_owned(),
            cell: label("cell", cell)?.to_owned(),
            package: label("package", package)?.to_owned(),
            version: self::version(version)?.to_owned(),
        })
    }

    /// Reads a branch back; anything dk would not have named is refused, naming the part that
    /// is off when the shape is right.
    pub fn parse(value: &str) -> Result<BranchName, GitOpsError> {
        let bad = || GitOpsError::BadName {
            what: "promotion",
            value: value.to_owned(),
            rule: PROMOTION_ID,
        };
        let parts: Vec<&str> = value
            .strip_prefix(&format!("{BRANCH_PREFIX}/"))
            .ok_or_else(bad)?
            .split('/')
            .collect();
        let [kind, env, cell, package, version] = parts[..] else {
            return Err(bad());
        };
        let kind = Kind::from_word(kind).ok_or_else(bad)?;
        BranchName::new(kind, env, cell, package, version)
    }

    /// The values file the promotion changes, and nothing else.
    pub fn values_path(&self) -> String {
        values_path(&self.env, &self.cell, &self.package)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{BRANCH_PREFIX}/{}/{}/{}/{}/{}",
            self.kind.word(),
            self.env,
            self.cell,
            self.package,
            self.version
        )
    }
}

/// A promotion as a command line names it: a pull request's number (`12`, `#12` on GitHub,
/// `!12` on GitLab, either sign on either), or its branch (the git provider's only name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrId {
    Number(u64),
    Branch(BranchName),
}

impl PrId {
    pub fn parse(value: &str) -> Result<PrId, GitOpsError> {
        let number = value.trim_start_matches(['#', '!']);
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            return number
                .parse()
                .map(PrId::Number)
                .map_err(|_| GitOpsError::BadName {
                    what: "promotion",
                    value: value.to_owned(),
                    rule: PROMOTION_ID,
                });
        }
        BranchName::parse(value).map(PrId::Branch)
    }
}

impl fmt::Display for PrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrId::Number(number) => write!(f, "#{number}"),
            PrId::Branch(branch) => branch.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_round_trip() {
        let branch = BranchName::new(Kind::Rollback, "prod", "c1", "my-pkg", "v1.0.0").unwrap();
        let text = branch.to_string();
        assert_eq!(text, "dk/rollback/prod/c1/my-pkg/v1.0.0");
        assert_eq!(BranchName::parse(&text).unwrap(), branch);
        assert_eq!(
            branch.values_path(),
            "envs/prod/cells/c1/apps/my-pkg/values.yaml"
        );
        let promote = BranchName::parse("dk/promote/dev/c0/a/2.0.0-rc.1").unwrap();
        assert_eq!(
            (promote.kind, promote.version.as_str()),
            (Kind::Promotion, "2.0.0-rc.1")
        );
        assert_eq!(promote.to_string(), "dk/promote/dev/c0/a/2.0.0-rc.1");
    }

    #[test]
    fn foreign_branches_are_not_promotions() {
        for foreign in [
            "main",
            "feature/dk/promote/prod/c0/my-pkg/v1.0.0",
            "dk/promote/prod/c0/my-pkg",
            "dk/promote/prod/c0/my-pkg/v1.0.0/x",
            "dk/merge/prod/c0/my-pkg/v1.0.0",
            "dk/promotion/prod/c0/my-pkg/v1.0.0",
            "dk/promote/prod/c0/../../etc/v1.0.0",
            "dk/promote/PROD/c0/my-pkg/v1.0.0",
            "dk/promote/prod/c0/my-pkg/latest",
            "dk/promote/prod/c0/my-pkg/v1.0.0\n",
        ] {
            assert!(BranchName::parse(foreign).is_err(), "{foreign:?}");
        }
        // The right shape with a bad part names the part.
        let err = BranchName::parse("dk/promote/prod/c0/My-Pkg/v1.0.0").unwrap_err();
        assert!(
            matches!(
                err,
                GitOpsError::BadName {
                    what: "package",
                    ..
                }
            ),
            "{err}"
        );
        assert!(BranchName::new(Kind::Promotion, "dev", "c0", "a/b", "v1.0.0").is_err());
    }

    #[test]
    fn pull_request_ids_are_numbers_or_promotion_branches() {
        for (given, number) in [("12", 12), ("#12", 12), ("!7", 7)] {
            assert_eq!(PrId::parse(given).unwrap(), PrId::Number(number), "{given}");
        }
        assert_eq!(PrId::Number(12).to_string(), "#12");
        let branch = "dk/promote/prod/c0/my-pkg/v1.0.0";
        let id = PrId::parse(branch).unwrap();
        assert!(matches!(&id, PrId::Branch(b) if b.package == "my-pkg"));
        assert_eq!(id.to_string(), branch);
        for bad in ["#", "", "main", "../../tmp/x", "#12x", &"9".repeat(21)] {
            assert!(PrId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
