//! Environments in promotion order, with the approvals each needs (config `environments`).

use serde::Deserialize;

use crate::GitOpsError;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    pub name: String,
    #[serde(default)]
    pub approvals: u32,
    #[serde(default)]
    pub auto_merge: bool,
    /// The environment a version must run in before this one.
    #[serde(default)]
    pub requires: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Environments(pub Vec<Environment>);

impl Environments {
    pub fn from_json(value: &serde_json::Value) -> Result<Environments, GitOpsError> {
        let list: Vec<Environment> = serde_json::from_value(value.clone()).map_err(|err| {
            GitOpsError::Invalid(format!(
                "config `environments`: {err} (each: name, approvals, autoMerge, requires)"
            ))
        })?;
        for env in &list {
            crate::names::label("environment", &env.name)?;
            if let Some(required) = &env.requires
                && !list.iter().any(|e| &e.name == required)
            {
                return Err(GitOpsError::Invalid(format!(
                    "config `environments`: {} requires {required}, which is not an environment",
                    env.name
                )));
            }
        }
        Ok(Environments(list))
    }

    pub fn get(&self, name: &str) -> Result<&Environment, GitOpsError> {
        self.0.iter().find(|e| e.name == name).ok_or_else(|| {
            GitOpsError::Invalid(format!(
                "`{name}` is not an environment (configured: {})",
                self.0
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The chain of environments `name` requires, nearest first (`prod` → int, dev).
    pub fn predecessors(&self, name: &str) -> Vec<&Environment> {
        let mut chain = Vec::new();
        let mut current = self.0.iter().find(|e| e.name == name);
        while let Some(required) = current.and_then(|e| e.requires.as_deref()) {
            if chain.iter().any(|e: &&Environment| e.name == required) {
                break;
            }
            current = self.0.iter().find(|e| e.name == required);
            chain.extend(current);
        }
        chain
    }
}

/// "dev", "dev and int", "dev, int and qa".
pub fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// dev (auto-merges), int (1 approval, after dev), prod (2, after int): the defaults.
#[cfg(test)]
pub(crate) fn defaults() -> Environments {
    Environments::from_json(&serde_json::json!([
        {"name": "dev", "approvals": 0, "autoMerge": true},
        {"name": "int", "approvals": 1, "requires": "dev"},
        {"name": "prod", "approvals": 2, "requires": "int"},
    ]))
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predecessors_follow_requires() {
        let envs = defaults();
        let names: Vec<&str> = envs
            .predecessors("prod")
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["int", "dev"]);
        assert!(envs.predecessors("dev").is_empty());
        assert_eq!(envs.get("prod").unwrap().approvals, 2);
        assert!(envs.get("qa").is_err());
    }

    #[test]
    fn names_join_as_the_faq_writes_them() {
        assert_eq!(join_names(&["dev", "int"]), "dev and int");
        assert_eq!(join_names(&["a", "b", "c"]), "a, b and c");
    }
}
