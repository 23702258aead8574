//! `-f values.yaml` and `--set path=value` overrides of a package's `dk.yaml`.
//!
//! Overrides are merged into the parsed tree in memory, never written back. Every overriding
//! node keeps its own origin, so a finding about an overridden value points at the values file
//! line or the `--set` flag that produced it rather than at `dk.yaml`.
//!
//! Semantics follow Helm values: mappings merge deeply, lists and scalars replace, and `null`
//! removes a key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::load::{Problem, read_yaml};
use crate::yaml::{self, Entry, Node, Origin, Pos, Scalar, Seg, Source, SyntaxError, Value};

/// The largest `-f` values file dk reads.
pub const VALUES_MAX_BYTES: u64 = yaml::MAX_TEXT_BYTES as u64;

/// Why overrides could not be read or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverrideError {
    #[error("cannot read values file {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error(transparent)]
    Syntax(SyntaxError),
    #[error("values file over dk's YAML limits: {0}")]
    Limits(SyntaxError),
    #[error("values file {path} must hold a mapping")]
    NotAMapping { path: PathBuf },
    #[error("`--set {arg}`: expected PATH=VALUE, e.g. spec.inputs[0].dataset=orders")]
    MissingEquals { arg: String },
    #[error("`--set {arg}`: invalid path: {reason}")]
    BadPath { arg: String, reason: String },
    #[error("`{origin}`: cannot set {path}: {reason}")]
    Conflict {
        origin: String,
        path: String,
        reason: String,
    },
}

impl From<SyntaxError> for OverrideError {
    fn from(err: SyntaxError) -> Self {
        if err.is_limit() {
            OverrideError::Limits(err)
        } else {
            OverrideError::Syntax(err)
        }
    }
}

/// One `--set` assignment.
#[derive(Debug, Clone)]
struct Assignment {
    path: Vec<Seg>,
    value: Node,
}

/// Overrides in the order given: values files first, then `--set` assignments.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    values: Vec<Node>,
    assignments: Vec<Assignment>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.assignments.is_empty()
    }

    /// Reads values files and parses `--set` arguments.
    pub fn parse(
        values_files: &[impl AsRef<Path>],
        sets: &[impl AsRef<str>],
    ) -> Result<Self, OverrideError> {
        let mut overrides = Overrides::default();
        for path in values_files {
            let path = path.as_ref();
            let source = match read_yaml(path, VALUES_MAX_BYTES) {
                Ok(source) => source,
                Err(Problem::Syntax(err)) => return Err(err.into()),
                Err(problem) => {
                    return Err(OverrideError::Unreadable {
                        path: path.to_owned(),
                        message: match problem {
                            Problem::Unreadable { message, .. } => message,
                            other => other.to_string(),
                        },
                    });
                }
            };
            match yaml::parse_document(&source)? {
                Some(node) if node.as_map().is_some() => overrides.values.push(node),
                // An empty values file overrides nothing.
                None => {}
                Some(_) => {
                    return Err(OverrideError::NotAMapping {
                        path: path.to_owned(),
                    });
                }
            }
        }
        for arg in sets {
            overrides.assignments.push(parse_assignment(arg.as_ref())?);
        }
        Ok(overrides)
    }

    /// Applies every override to `root`, a parsed `dk.yaml` document.
    pub fn apply(&self, root: &mut Node) -> Result<(), OverrideError> {
        for values in &self.values {
            merge(root, values);
        }
        for assignment in &self.assignments {
            set(root, &assignment.path, assignment.value.clone())?;
        }
        Ok(())
    }
}

fn parse_assignment(arg: &str) -> Result<Assignment, OverrideError> {
    let (path, value) = arg
        .split_once('=')
        .ok_or_else(|| OverrideError::MissingEquals {
            arg: arg.to_owned(),
        })?;
    let path = parse_path(path).map_err(|reason| OverrideError::BadPath {
        arg: arg.to_owned(),
        reason,
    })?;
    let source = Source::new(Origin::Flag(format!("--set {arg}")), value);
    // The value is YAML, so `3` is a number, `true` a boolean, `[a, b]` a list and `"3"` a
    // string; an empty value is an empty string rather than null.
    let value = if value.is_empty() {
        Node {
            value: Value::Scalar(Scalar::string("")),
            start: Pos::new(1, 1),
            end: Pos::new(1, 1),
            source,
        }
    } else {
        yaml::parse_document(&source)?.unwrap_or_else(|| Node {
            value: Value::Scalar(Scalar::null()),
            start: Pos::new(1, 1),
            end: Pos::new(1, 1),
            source: source.clone(),
        })
    };
    Ok(Assignment { path, value })
}

/// Parses `a.b[0].c` and `metadata.labels."app.kubernetes.io/name"`.
pub fn parse_path(text: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut chars = text.chars().peekable();
    let mut expect_key = true;
    while let Some(&c) = chars.peek() {
        match c {
            '.' if !expect_key => {
                chars.next();
                expect_key = true;
            }
            '[' => {
                chars.next();
                let digits: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let index = digits
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("`[{digits}]` is not a list index"))?;
                segs.push(Seg::Index(index));
                expect_key = false;
            }
            '"' if expect_key => {
                chars.next();
                let mut key = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => key.push(c),
                        None => return Err("unterminated quoted key".into()),
                    }
                }
                segs.push(Seg::Key(key));
                expect_key = false;
            }
            _ if expect_key => {
                let mut key = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    key.push(c);
                    chars.next();
                }
                if key.is_empty() {
                    return Err("empty key".into());
                }
                segs.push(Seg::Key(key));
                expect_key = false;
            }
            _ => return Err(format!("unexpected `{c}`")),
        }
    }
    if segs.is_empty() || expect_key {
        return Err("empty key".into());
    }
    Ok(segs)
}

fn is_null(node: &Node) -> bool {
    matches!(&node.value, Value::Scalar(s) if s.kind == yaml::ScalarKind::Null)
}

/// Deep-merges `patch` into `target`: mappings merge, anything else replaces, null deletes.
fn merge(target: &mut Node, patch: &Node) {
    let (Value::Map(target_entries), Value::Map(patch_entries)) = (&mut target.value, &patch.value)
    else {
        *target = patch.clone();
        return;
    };
    for patch_entry in patch_entries {
        let existing = target_entries
            .iter()
            .position(|entry| entry.key == patch_entry.key);
        match existing {
            Some(index) if is_null(&patch_entry.value) => {
                target_entries.remove(index);
            }
            Some(index) => merge(&mut target_entries[index].value, &patch_entry.value),
            None if is_null(&patch_entry.value) => {}
            None => target_entries.push(patch_entry.clone()),
        }
    }
}

fn set(root: &mut Node, path: &[Seg], value: Node) -> Result<(), OverrideError> {
    let origin = value.source.origin.to_string();
    let conflict = |depth: usize, reason: String| OverrideError::Conflict {
        origin: origin.clone(),
        path: yaml::display_path(path),
        reason: format!(
            "{reason} at {}",
            yaml::display_path(&path[..depth]).if_empty("the document root")
        ),
    };
    let source = value.source.clone();
    let mut node = root;
    for (depth, seg) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        node = match seg {
            Seg::Key(key) => {
                if is_null(node) {
                    node.value = Value::Map(Vec::new());
                }
                let found = node.kind_name();
                let Value::Map(entries) = &mut node.value else {
                    return Err(conflict(depth, format!("found {found}, not a mapping")));
                };
                let index = match entries.iter().position(|entry| entry.key == *key) {
                    Some(index) if last && is_null(&value) => {
                        entries.remove(index);
                        return Ok(());
                    }
                    Some(index) => index,
                    None if last && is_null(&value) => return Ok(()),
                    None => {
                        entries.push(Entry {
                            key: key.clone(),
                            key_pos: Pos::new(1, 1),
                            value: empty_node(&source),
                        });
                        entries.len() - 1
                    }
                };
                &mut entries[index].value
            }
            Seg::Index(index) => {
                if is_null(node) {
                    node.value = Value::Seq(Vec::new());
                }
                let found = node.kind_name();
                let Value::Seq(items) = &mut node.value else {
                    return Err(conflict(depth, format!("found {found}, not a list")));
                };
                match (*index).cmp(&items.len()) {
                    std::cmp::Ordering::Less => {}
                    // One past the end appends, as `--set list[N]=x` does in Helm.
                    std::cmp::Ordering::Equal => items.push(empty_node(&source)),
                    std::cmp::Ordering::Greater => {
                        return Err(conflict(
                            depth,
                            format!(
                                "index {index} is past the end of a list of {} items",
                                items.len()
                            ),
                        ));
                    }
                }
                &mut items[*index]
            }
        };
    }
    *node = value;
    Ok(())
}

fn empty_node(source: &Arc<Source>) -> Node {
    Node {
        value: Value::Scalar(Scalar::null()),
        start: Pos::new(1, 1),
        end: Pos::new(1, 1),
        source: source.clone(),
    }
}

trait IfEmpty {
    fn if_empty(self, fallback: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, fallback: &str) -> String {
        if self.is_empty() {
            fallback.to_owned()
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path;

    fn doc(text: &str) -> Node {
        yaml::parse_document(&Source::file("dk.yaml", text))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn paths_parse_keys_indexes_and_quoted_keys() {
        assert_eq!(
            parse_path("spec.inputs[0].dataset").unwrap(),
            path!["spec", "inputs", 0, "dataset"]
        );
        assert_eq!(
            parse_path("metadata.labels.\"app.kubernetes.io/name\"").unwrap(),
            path!["metadata", "labels", "app.kubernetes.io/name"]
        );
        assert!(parse_path("").is_err());
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a.").is_err());
        assert!(parse_path("a[x]").is_err());
    }

    #[test]
    fn set_writes_typed_values_and_remembers_the_flag() {
        let mut root = doc("spec:\n  inputs:\n    - dataset: a\n  replicas: 1\n");
        let overrides = Overrides::parse(
            &[] as &[&str],
            &[
                "spec.inputs[0].dataset=orders",
                "spec.replicas=3",
                "spec.inputs[1].dataset=b",
                "metadata.labels.tier=\"1\"",
            ],
        )
        .unwrap();
        overrides.apply(&mut root).unwrap();
        assert_eq!(
            root.to_json(),
            serde_json::json!({"spec": {"inputs": [{"dataset": "orders"}, {"dataset": "b"}], "replicas": 3}, "metadata": {"labels": {"tier": "1"}}})
        );
        let location = root.locate_value(&path!["spec", "replicas"]);
        assert_eq!(location.to_string(), "--set spec.replicas=3");
    }

    #[test]
    fn set_null_removes_and_out_of_range_is_an_error() {
        let mut root = doc("spec:\n  owner: me\n  inputs: [a]\n");
        Overrides::parse(&[] as &[&str], &["spec.owner=null"])
            .unwrap()
            .apply(&mut root)
            .unwrap();
        assert_eq!(
            root.to_json(),
            serde_json::json!({"spec": {"inputs": ["a"]}})
        );
        let err = Overrides::parse(&[] as &[&str], &["spec.inputs[5]=x"])
            .unwrap()
            .apply(&mut root)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("index 5 is past the end of a list of 1 items"),
            "{err}"
        );
        let err = Overrides::parse(&[] as &[&str], &["spec.inputs.name=x"])
            .unwrap()
            .apply(&mut root)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("found a list, not a mapping at spec.inputs"),
            "{err}"
        );
        assert!(matches!(
            Overrides::parse(&[] as &[&str], &["novalue"]),
            Err(OverrideError::MissingEquals { .. })
        ));
    }

    #[test]
    fn values_files_merge_deeply_and_replace_lists() {
        let dir = tempfile::tempdir().unwrap();
        let values = dir.path().join("values.yaml");
        std::fs::write(
            &values,
            "spec:\n  inputs:\n    - dataset: z\n  resources:\n    memory: 1Gi\n  owner: null\n",
        )
        .unwrap();
        let mut root = doc(
            "spec:\n  owner: me\n  inputs: [{dataset: a}, {dataset: b}]\n  resources:\n    cpu: '1'\n",
        );
        Overrides::parse(&[&values], &[] as &[&str])
            .unwrap()
            .apply(&mut root)
            .unwrap();
        assert_eq!(
            root.to_json(),
            serde_json::json!({"spec": {"inputs": [{"dataset": "z"}], "resources": {"cpu": "1", "memory": "1Gi"}}})
        );
        let memory = root.locate_value(&path!["spec", "resources", "memory"]);
        assert_eq!(memory.to_string(), format!("{}:5:13", values.display()));
    }
}
