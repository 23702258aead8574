//! Surgical edits of YAML text: set or remove the value at a key path while keeping every
//! comment, blank line and the order of untouched keys exactly as a human wrote them.
//!
//! Block mappings (the way people write config and values files) are edited in place. A path
//! that runs through a flow mapping (`{a: 1}`) falls back to re-rendering the whole document,
//! which the caller is told about through [`Edited::layout_preserved`].

use std::sync::Arc;

use serde_json::Value as Json;

use super::node::{Node, Scalar, ScalarKind, Seg, Value, display_path};
use super::parse::{SyntaxError, parse_document};
use super::source::{Origin, Pos, Source};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("cannot edit {path}: {reason}")]
    Conflict { path: String, reason: String },
}

/// The edited text.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub text: String,
    /// False when the document had to be re-rendered (comments and layout were lost).
    pub layout_preserved: bool,
}

fn conflict(path: &[Seg], reason: impl Into<String>) -> EditError {
    EditError::Conflict {
        path: display_path(path),
        reason: reason.into(),
    }
}

fn keys(path: &[Seg]) -> Result<Vec<&str>, EditError> {
    path.iter()
        .map(|seg| match seg {
            Seg::Key(key) => Ok(key.as_str()),
            Seg::Index(_) => Err(conflict(path, "list items are edited as a whole list")),
        })
        .collect()
}

fn parse(text: &str) -> Result<(Arc<Source>, Option<Node>), EditError> {
    let source = Source::new(Origin::File("<edit>".into()), text);
    let root = parse_document(&source)?;
    Ok((source, root))
}

fn is_flow(source: &Source, node: &Node) -> bool {
    matches!(source.char_at(node.start), Some('{' | '['))
}

fn is_null(node: &Node) -> bool {
    matches!(
        &node.value,
        Value::Scalar(Scalar {
            kind: ScalarKind::Null,
            ..
        })
    )
}

/// Sets the value at `path` (keys only), creating missing mappings.
pub fn set_value(text: &str, path: &[Seg], value: &Json) -> Result<Edited, EditError> {
    let keys = keys(path)?;
    let (source, root) = parse(text)?;
    let Some(root) = root else {
        // Nothing but comments (or nothing): append the new entry after them.
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&render_entry(&keys, value, 0));
        return Ok(Edited {
            text: out,
            layout_preserved: true,
        });
    };
    let mut node = &root;
    for (depth, key) in keys.iter().enumerate() {
        let Value::Map(entries) = &node.value else {
            return Err(conflict(
                &path[..depth],
                format!("it is {}, not a mapping", node.kind_name()),
            ));
        };
        if is_flow(&source, node) {
            return rerender(&root, path, Some(value));
        }
        let last = depth + 1 == keys.len();
        match entries.iter().find(|entry| entry.key == *key) {
            Some(entry) if last || is_null(&entry.value) => {
                let rest = &keys[depth + 1..];
                let replacement = if rest.is_empty() {
                    value.clone()
                } else {
                    nest(rest, value)
                };
                return Ok(replace_value(
                    &source,
                    entry.key_pos,
                    &entry.value,
                    &replacement,
                ));
            }
            Some(entry) => node = &entry.value,
            None => return Ok(insert_entry(&source, entries, &keys[depth..], value)),
        }
    }
    unreachable!("the loop returns on the last key")
}

/// Removes the entry at `path`, and any mapping left empty by that. `None` when absent.
pub fn remove_value(text: &str, path: &[Seg]) -> Result<Option<Edited>, EditError> {
    let keys = keys(path)?;
    let (source, Some(root)) = parse(text)? else {
        return Ok(None);
    };
    // The entry to delete is the highest one whose mapping would otherwise be left empty.
    let mut node = &root;
    let mut removal = None;
    for (depth, key) in keys.iter().enumerate() {
        let Value::Map(entries) = &node.value else {
            return Ok(None);
        };
        if is_flow(&source, node) {
            return match root.at(path) {
                Some(_) => rerender(&root, path, None).map(Some),
                None => Ok(None),
            };
        }
        let Some(entry) = entries.iter().find(|entry| entry.key == *key) else {
            return Ok(None);
        };
        if removal.is_none() || entries.len() > 1 || depth == 0 {
            removal = Some(entry);
        }
        node = &entry.value;
    }
    let Some(entry) = removal else {
        return Ok(None);
    };
    let start = source.offset(Pos::new(entry.key_pos.line, 1));
    let end = line_end(
        &source,
        end_offset(&source, &entry.value).max(source.offset(entry.key_pos)),
    );
    let mut text = source.text.clone();
    text.replace_range(start..end, "");
    Ok(Some(Edited {
        text,
        layout_preserved: true,
    }))
}

/// `{a: {b: value}}` for `[a, b]`.
fn nest(keys: &[&str], value: &Json) -> Json {
    keys.iter().rev().fold(value.clone(), |inner, key| {
        let mut map = serde_json::Map::new();
        map.insert((*key).to_owned(), inner);
        Json::Object(map)
    })
}

/// Offset just past the last character of `node`'s own text. The parser ends block scalars
/// and block collections where the next token starts, so trailing white space is backed over.
fn end_offset(source: &Source, node: &Node) -> usize {
    let offset = source.offset(node.end);
    source.text[..offset]
        .trim_end()
        .len()
        .max(source.offset(node.start).min(offset))
}

/// Offset just past the line break that ends the line holding `offset` (or the text's end).
fn line_end(source: &Source, offset: usize) -> usize {
    source.text[offset..]
        .find('\n')
        .map_or(source.text.len(), |i| offset + i + 1)
}

/// Offset just past the `:` that follows a mapping key.
fn colon_after_key(source: &Source, key_pos: Pos) -> usize {
    let start = source.offset(key_pos);
    let rest = &source.text[start..];
    let skip = match rest.chars().next() {
        Some(quote @ ('"' | '\'')) => rest[1..].find(quote).map_or(0, |i| i + 2),
        _ => 0,
    };
    rest[skip..]
        .find(':')
        .map_or(source.text.len(), |i| start + skip + i + 1)
}

fn replace_value(source: &Source, key_pos: Pos, old: &Node, value: &Json) -> Edited {
    let from = colon_after_key(source, key_pos);
    let to = end_offset(source, old).max(from);
    let indent = (key_pos.column - 1) as usize;
    let rendered = match value {
        Json::Object(map) if !map.is_empty() => format!(
            "\n{}",
            render_block(value, indent + 2).trim_end_matches('\n')
        ),
        Json::Array(items) if !items.is_empty() => format!(
            "\n{}",
            render_block(value, indent + 2).trim_end_matches('\n')
        ),
        _ => format!(" {}", render_scalar(value)),
    };
    let mut text = source.text.clone();
    text.replace_range(from..to, &rendered);
    Edited {
        text,
        layout_preserved: true,
    }
}

fn insert_entry(
    source: &Source,
    entries: &[super::node::Entry],
    keys: &[&str],
    value: &Json,
) -> Edited {
    let indent = entries
        .first()
        .map_or(0, |entry| (entry.key_pos.column - 1) as usize);
    let last_end = entries
        .iter()
        .map(|entry| end_offset(source, &entry.value).max(source.offset(entry.key_pos)))
        .max()
        .unwrap_or_default();
    let at = line_end(source, last_end);
    let mut text = source.text.clone();
    let mut insertion = String::new();
    if at > 0 && !text[..at].ends_with('\n') {
        insertion.push('\n');
    }
    insertion.push_str(&render_entry(keys, value, indent));
    text.insert_str(at, &insertion);
    Edited {
        text,
        layout_preserved: true,
    }
}

fn rerender(root: &Node, path: &[Seg], value: Option<&Json>) -> Result<Edited, EditError> {
    let mut json = root.to_json();
    let keys = keys(path)?;
    let (parents, last) = keys.split_at(keys.len() - 1);
    let mut target = &mut json;
    for key in parents {
        let Json::Object(map) = target else {
            return Err(conflict(path, "a parent is not a mapping"));
        };
        target = map
            .entry((*key).to_owned())
            .or_insert_with(|| Json::Object(Default::default()));
    }
    let Json::Object(map) = target else {
        return Err(conflict(path, "a parent is not a mapping"));
    };
    match value {
        Some(value) => {
            map.insert(last[0].to_owned(), value.clone());
        }
        None => {
            map.shift_remove(last[0]);
        }
    }
    Ok(Edited {
        text: render_block(&json, 0),
        layout_preserved: false,
    })
}

/// `a:\n  b: value\n` for keys `[a, b]`, indented by `indent` spaces.
fn render_entry(keys: &[&str], value: &Json, indent: usize) -> String {
    render_block(&nest(keys, value), indent)
}

/// Block-style YAML for a value, every line indented by `indent`, ending with a line break.
pub fn render_block(value: &Json, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                out.push_str(&format!("{pad}{}:", render_string(key)));
                render_child(&mut out, item, indent + 2);
            }
        }
        Json::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                match item {
                    Json::Object(map) if !map.is_empty() => {
                        // The first key shares the dash's line, as people write list items.
                        let block = render_block(item, indent + 2);
                        out.push(' ');
                        out.push_str(block.trim_start());
                    }
                    _ => render_child(&mut out, item, indent + 2),
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&render_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn render_child(out: &mut String, item: &Json, indent: usize) {
    match item {
        Json::Object(map) if !map.is_empty() => {
            out.push('\n');
            out.push_str(&render_block(item, indent));
        }
        Json::Array(items) if !items.is_empty() => {
            out.push('\n');
            out.push_str(&render_block(item, indent));
        }
        scalar => {
            out.push(' ');
            out.push_str(&render_scalar(scalar));
            out.push('\n');
        }
    }
}

/// A scalar (or empty collection) on one line.
fn render_scalar(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => render_string(s),
        Json::Array(_) => "[]".into(),
        Json::Object(_) => "{}".into(),
    }
}

/// Any value on one line, in YAML flow style: `[{name: dev, approvals: 0}]`.
pub fn render_flow(value: &Json) -> String {
    match value {
        Json::Array(items) if !items.is_empty() => {
            format!(
                "[{}]",
                items.iter().map(render_flow).collect::<Vec<_>>().join(", ")
            )
        }
        Json::Object(map) if !map.is_empty() => format!(
            "{{{}}}",
            map.iter()
                .map(|(key, item)| format!("{}: {}", render_string(key), render_flow(item)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => render_scalar(scalar),
    }
}

/// A string, plain when YAML would read it back as the same string, else double-quoted
/// (JSON escapes are valid YAML).
pub fn render_string(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && Scalar::resolve_plain(s).kind == ScalarKind::Str
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(['\n', '\r', '\t'])
        && !s.chars().any(char::is_control);
    if plain_safe {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::path;

    fn set(text: &str, path: &[Seg], value: Json) -> String {
        let edited = set_value(text, path, &value).unwrap();
        assert!(edited.layout_preserved);
        // Whatever the edit, the result must read back with the new value in place.
        let (_, root) = parse(&edited.text).unwrap();
        assert_eq!(
            root.unwrap().at(path).unwrap().to_json(),
            value,
            "{}",
            edited.text
        );
        edited.text
    }

    #[test]
    fn replaces_scalars_keeping_comments() {
        let text = "# registry settings\nregistry: old.io # inline\nother: 1\n";
        assert_eq!(
            set(text, &path!["registry"], json!("ghcr.io/team")),
            "# registry settings\nregistry: ghcr.io/team # inline\nother: 1\n"
        );
    }

    #[test]
    fn inserts_nested_keys_under_existing_mappings() {
        let text = "dev:\n  # charts we pin\n  charts:\n    redpanda:\n      version: 1.0.0\nlineage:\n  endpoint: x\n";
        let out = set(
            text,
            &path![
                "dev",
                "charts",
                "postgres",
                "values",
                "primary",
                "resources",
                "limits",
                "memory"
            ],
            json!("1Gi"),
        );
        assert_eq!(
            out,
            "dev:\n  # charts we pin\n  charts:\n    redpanda:\n      version: 1.0.0\n    postgres:\n      values:\n        primary:\n          resources:\n            limits:\n              memory: 1Gi\nlineage:\n  endpoint: x\n"
        );
        let out = set(
            &out,
            &path!["dev", "charts", "redpanda", "version"],
            json!("25.2.0"),
        );
        assert!(out.contains("      version: 25.2.0\n"), "{out}");
    }

    #[test]
    fn creates_files_and_fills_empty_keys() {
        assert_eq!(set("", &path!["a", "b"], json!(true)), "a:\n  b: true\n");
        assert_eq!(set("# hi", &path!["a"], json!(1)), "# hi\na: 1\n");
        assert_eq!(
            set("a:\nb: 2\n", &path!["a", "c"], json!("x")),
            "a:\n  c: x\nb: 2\n"
        );
    }

    #[test]
    fn replaces_collections_and_block_scalars() {
        let out = set(
            "list:\n  - a\n  - b\nz: |\n  text\nend: 1\n",
            &path!["list"],
            json!(["c"]),
        );
        assert_eq!(out, "list:\n  - c\nz: |\n  text\nend: 1\n");
        let out = set(&out, &path!["z"], json!("plain"));
        assert_eq!(out, "list:\n  - c\nz: plain\nend: 1\n");
        let out = set(
            "a: 1\n",
            &path!["env"],
            json!([{"name": "dev", "approvals": 0}]),
        );
        assert_eq!(out, "a: 1\nenv:\n  - name: dev\n    approvals: 0\n");
    }

    #[test]
    fn quotes_strings_that_would_change_type() {
        assert_eq!(render_string("1.0"), "\"1.0\"");
        assert_eq!(render_string("true"), "\"true\"");
        assert_eq!(render_string("25.2.0"), "25.2.0");
        assert_eq!(render_string("a: b"), "\"a: b\"");
        assert_eq!(render_string(""), "\"\"");
        assert_eq!(render_string("- x"), "\"- x\"");
    }

    #[test]
    fn flow_rendering_reads_back_the_same() {
        let value =
            json!([{"name": "dev", "approvals": 0, "autoMerge": true}, {"a": "1.0", "b": []}]);
        let text = render_flow(&value);
        assert_eq!(
            text,
            "[{name: dev, approvals: 0, autoMerge: true}, {a: \"1.0\", b: []}]"
        );
        let (_, root) = parse(&text).unwrap();
        assert_eq!(root.unwrap().to_json(), value);
    }

    #[test]
    fn refuses_to_descend_into_scalars() {
        let err = set_value("a: 1\n", &path!["a", "b"], &json!(1)).unwrap_err();
        assert!(err.to_string().contains("not a mapping"), "{err}");
    }

    #[test]
    fn flow_mappings_are_rerendered() {
        let edited = set_value("a: {b: 1}\n", &path!["a", "c"], &json!(2)).unwrap();
        assert!(!edited.layout_preserved);
        assert_eq!(edited.text, "a:\n  b: 1\n  c: 2\n");
    }

    #[test]
    fn removes_entries_and_empty_parents() {
        let text =
            "# top\ndev:\n  charts:\n    redpanda:\n      version: 1.0.0\nregistry: x # keep\n";
        let out = remove_value(text, &path!["dev", "charts", "redpanda", "version"])
            .unwrap()
            .unwrap();
        assert_eq!(out.text, "# top\nregistry: x # keep\n");
        let text = "a:\n  b: 1\n  c: |\n    long\n  d: 3\n";
        let out = remove_value(text, &path!["a", "c"]).unwrap().unwrap();
        assert_eq!(out.text, "a:\n  b: 1\n  d: 3\n");
        assert_eq!(remove_value(text, &path!["a", "zz"]).unwrap(), None);
        assert_eq!(remove_value("", &path!["a"]).unwrap(), None);
        let out = remove_value("a:\nb: 2\n", &path!["a"]).unwrap().unwrap();
        assert_eq!(out.text, "b: 2\n");
    }

    #[test]
    fn empty_values_are_filled_in_place() {
        assert_eq!(set("a:\nb: 2\n", &path!["a"], json!(5)), "a: 5\nb: 2\n");
        assert_eq!(set("a: 1\nb:\n", &path!["c"], json!(3)), "a: 1\nb:\nc: 3\n");
        assert_eq!(
            set("a:\n  x:\n", &path!["a", "y"], json!(3)),
            "a:\n  x:\n  y: 3\n"
        );
    }
}
