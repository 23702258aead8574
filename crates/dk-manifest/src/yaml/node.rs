//! The positioned YAML tree: every node knows its source and its start and end positions.

use std::sync::Arc;

use super::source::{Location, Pos, Source};

/// One YAML node. Collections keep their entries in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub start: Pos,
    /// Just past the last character of the node (for collections, of their last child).
    pub end: Pos,
    pub source: Arc<Source>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A scalar keeps its literal text next to its resolved type, so a string field can accept
/// `version: 1.0` as `"1.0"` instead of losing the text to a float.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub kind: ScalarKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalarKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// One step of a path into a tree: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_owned())
    }
}

impl From<String> for Seg {
    fn from(key: String) -> Self {
        Seg::Key(key)
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// Builds a path from keys and indexes: `path!["spec", "schema", 2, "pii"]`.
#[macro_export]
macro_rules! path {
    ($($seg:expr),* $(,)?) => {
        [$($crate::yaml::Seg::from($seg)),*]
    };
}

/// Renders a path the way users write it: `spec.inputs[0].dataset`.
pub fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(index) => {
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
        }
    }
    out
}

impl Scalar {
    pub fn null() -> Self {
        Scalar {
            text: String::new(),
            kind: ScalarKind::Null,
        }
    }

    pub fn string(text: impl Into<String>) -> Self {
        Scalar {
            text: text.into(),
            kind: ScalarKind::Str,
        }
    }

    /// Resolves a plain (unquoted) scalar with the YAML 1.2 core schema.
    pub fn resolve_plain(text: &str) -> Self {
        Scalar {
            text: text.to_owned(),
            kind: resolve_core_schema(text),
        }
    }
}

fn resolve_core_schema(text: &str) -> ScalarKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
        "true" | "True" | "TRUE" => return ScalarKind::Bool(true),
        "false" | "False" | "FALSE" => return ScalarKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return ScalarKind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return ScalarKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return ScalarKind::Float(f64::NAN),
        _ => {}
    }
    if let Some(octal) = text.strip_prefix("0o")
        && let Ok(value) = i64::from_str_radix(octal, 8)
    {
        return ScalarKind::Int(value);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(value) = i64::from_str_radix(hex, 16)
    {
        return ScalarKind::Int(value);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(value) => ScalarKind::Int(value),
            Err(_) => text
                .parse::<f64>()
                .map_or(ScalarKind::Str, ScalarKind::Float),
        };
    }
    if is_core_float(digits)
        && let Ok(value) = text.parse::<f64>()
    {
        return ScalarKind::Float(value);
    }
    ScalarKind::Str
}

/// `[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?` or `\.[0-9]+([eE][-+]?[0-9]+)?`, sign already removed.
fn is_core_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((int_part, frac_part)) => (int_part, Some(frac_part)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac_part {
        Some(frac) => {
            all_digits(int_part) && all_digits(frac) && !(int_part.is_empty() && frac.is_empty())
        }
        None => !int_part.is_empty() && all_digits(int_part),
    };
    let exponent_ok = exponent.is_none_or(|exp| {
        let exp = exp.strip_prefix(['-', '+']).unwrap_or(exp);
        !exp.is_empty() && all_digits(exp)
    });
    mantissa_ok && exponent_ok && (frac_part.is_some() || exponent.is_some())
}

impl Node {
    pub fn location(&self) -> Location {
        Location::new(self.source.clone(), self.start)
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// The text of a string-like scalar (not null), as a string field would read it.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar { text, kind }) if *kind != ScalarKind::Null => Some(text),
            _ => None,
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|entry| entry.key == key)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|entry| &entry.value)
    }

    /// The node at `path`, if every step exists.
    pub fn at(&self, path: &[Seg]) -> Option<&Node> {
        path.iter().try_fold(self, |node, seg| match seg {
            Seg::Key(key) => node.get(key),
            Seg::Index(index) => node.as_seq()?.get(*index),
        })
    }

    /// Where `path` points: the key of its last step when it is a mapping entry (that is the line
    /// a user edits), else the node; for a path that does not exist, the deepest existing ancestor.
    pub fn locate(&self, path: &[Seg]) -> Location {
        let mut node = self;
        let mut pos = self.start;
        for seg in path {
            match seg {
                Seg::Key(key) => match node.entry(key) {
                    Some(entry) => {
                        pos = entry.key_pos;
                        node = &entry.value;
                    }
                    None => break,
                },
                Seg::Index(index) => match node.as_seq().and_then(|items| items.get(*index)) {
                    Some(item) => {
                        pos = item.start;
                        node = item;
                    }
                    None => break,
                },
            }
        }
        Location::new(node.source.clone(), pos)
    }

    /// Where the value at `path` starts (rather than its key), falling back like [`Node::locate`].
    pub fn locate_value(&self, path: &[Seg]) -> Location {
        match self.at(path) {
            Some(node) => node.location(),
            None => self.locate(path),
        }
    }

    /// Converts to JSON, dropping positions. Keys stay in document order.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Scalar(Scalar { text, kind }) => match *kind {
                ScalarKind::Null => J::Null,
                ScalarKind::Bool(b) => J::Bool(b),
                ScalarKind::Int(i) => J::from(i),
                ScalarKind::Float(f) => serde_json::Number::from_f64(f)
                    .map_or_else(|| J::String(text.clone()), J::Number),
                ScalarKind::Str => J::String(text.clone()),
            },
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// Builds a tree from JSON, every node placed at `pos` in `source` (used for values that
    /// come from flags or from dk itself rather than from a YAML text).
    pub fn from_json(value: &serde_json::Value, source: &Arc<Source>, pos: Pos) -> Node {
        use serde_json::Value as J;
        let node_value = match value {
            J::Null => Value::Scalar(Scalar::null()),
            J::Bool(b) => Value::Scalar(Scalar {
                text: b.to_string(),
                kind: ScalarKind::Bool(*b),
            }),
            J::Number(n) => Value::Scalar(Scalar::resolve_plain(&n.to_string())),
            J::String(s) => Value::Scalar(Scalar::string(s.clone())),
            J::Array(items) => Value::Seq(
                items
                    .iter()
                    .map(|item| Node::from_json(item, source, pos))
                    .collect(),
            ),
            J::Object(map) => Value::Map(
                map.iter()
                    .map(|(key, item)| Entry {
                        key: key.clone(),
                        key_pos: pos,
                        value: Node::from_json(item, source, pos),
                    })
                    .collect(),
            ),
        };
        Node {
            value: node_value,
            start: pos,
            end: pos,
            source: source.clone(),
        }
    }

    /// A short description of the node's type for messages: "a mapping", "a list", ...
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a mapping",
            Value::Seq(_) => "a list",
            Value::Scalar(Scalar { kind, .. }) => match kind {
                ScalarKind::Null => "an empty value",
                ScalarKind::Bool(_) => "a boolean",
                ScalarKind::Int(_) => "an integer",
                ScalarKind::Float(_) => "a number",
                ScalarKind::Str => "a string",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_resolution() {
        let kind = |text| resolve_core_schema(text);
        assert_eq!(kind(""), ScalarKind::Null);
        assert_eq!(kind("~"), ScalarKind::Null);
        assert_eq!(kind("True"), ScalarKind::Bool(true));
        assert_eq!(kind("yes"), ScalarKind::Str, "YAML 1.2: yes is a string");
        assert_eq!(kind("on"), ScalarKind::Str);
        assert_eq!(kind("42"), ScalarKind::Int(42));
        assert_eq!(kind("-7"), ScalarKind::Int(-7));
        assert_eq!(kind("0x1F"), ScalarKind::Int(31));
        assert_eq!(kind("0o17"), ScalarKind::Int(15));
        assert_eq!(kind("1.5"), ScalarKind::Float(1.5));
        assert_eq!(kind("1e3"), ScalarKind::Float(1000.0));
        assert_eq!(kind(".5"), ScalarKind::Float(0.5));
        assert_eq!(kind("1.0.0"), ScalarKind::Str);
        assert_eq!(kind("25.2.0"), ScalarKind::Str);
        assert_eq!(kind("1Gi"), ScalarKind::Str);
        assert_eq!(kind("."), ScalarKind::Str);
        assert_eq!(kind("1e"), ScalarKind::Str);
        assert_eq!(kind("-"), ScalarKind::Str);
        assert!(matches!(kind("99999999999999999999"), ScalarKind::Float(_)));
    }

    #[test]
    fn display_path_reads_like_user_input() {
        assert_eq!(
            display_path(&crate::path!["spec", "inputs", 0, "dataset"]),
            "spec.inputs[0].dataset"
        );
        assert_eq!(display_path(&[]), "");
    }
}
