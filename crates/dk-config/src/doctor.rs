//! `dk doctor`'s report: one [`Check`] per thing a working dk needs, each problem with its fix.
//! The crates that own a system judge it (`dk_devstack::doctor`, `dk_package::doctor`, ...);
//! this module holds the report they fill and the checks of the configuration itself.

use serde::Serialize;

use dk_manifest::yaml::Origin;

use crate::{Config, ConfigError};

/// How a check came out. A warning leaves dk usable (`dk doctor` exits 0); a failure does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// Nothing to check here (nothing configured that needs it).
    Skip,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Check {
    /// What was checked, e.g. `registry`, `port 9092`, `store warehouse`.
    pub name: String,
    pub level: Level,
    pub detail: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Level::Ok, detail, None)
    }

    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Level::Skip, detail, None)
    }

    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(name, Level::Warn, detail, Some(fix.into()))
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(name, Level::Fail, detail, Some(fix.into()))
    }

    fn new(
        name: impl Into<String>,
        level: Level,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            name: name.into(),
            level,
            detail: detail.into(),
            fix,
        }
    }
}

/// Every check, in a stable order, and how many failed or warned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub checks: Vec<Check>,
    pub failures: usize,
    pub warnings: usize,
}

impl Report {
    pub fn new(checks: Vec<Check>) -> Report {
        let count = |level| checks.iter().filter(|check| check.level == level).count();
        Report {
            failures: count(Level::Fail),
            warnings: count(Level::Warn),
            checks,
        }
    }
}

/// The config files as loaded: a file dk cannot use fails, each unknown key warns.
pub fn config(loaded: &Result<Config, ConfigError>) -> Vec<Check> {
    let config = match loaded {
        Ok(config) => config,
        Err(err) => {
            return vec![Check::fail(
                "config",
                err.to_string(),
                "fix or remove the file (`dk config path` lists the files dk reads)",
            )];
        }
    };
    if config.unknown_keys.is_empty() {
        return vec![Check::ok("config", "every config file is valid")];
    }
    config
        .unknown_keys
        .iter()
        .map(|unknown| {
            let scope = crate::Scope::ALL
                .into_iter()
                .find(|scope| {
                    config.paths.file(*scope).is_ok_and(|file| {
                        matches!(unknown.location.origin(), Origin::File(path) if path == file)
                    })
                })
                .filter(|scope| *scope != crate::Scope::User)
                .map(|scope| format!(" --scope {scope}"))
                .unwrap_or_default();
            let unset = format!("dk config unset {}{scope}", unknown.key);
            let fix = match &unknown.suggestion {
                Some(known) => format!("{unset}, then set `{known}` instead"),
                None => format!("{unset}; `dk config list` shows every key"),
            };
            Check::warn(
                "config",
                format!("{}: unknown key `{}`", unknown.location, unknown.key),
                fix,
            )
        })
        .collect()
}
