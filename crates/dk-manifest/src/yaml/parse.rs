//! Builds [`Node`] trees from `saphyr-parser` events, keeping every position.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};

use super::node::{Entry, Node, Scalar, ScalarKind, Value};
use super::source::{Location, Pos, Source};

/// A YAML text that is not well-formed, or uses a construct dk does not accept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SyntaxError {
    pub message: String,
    pub location: Location,
}

/// Parses every document of a YAML stream. Empty documents (only comments) are skipped.
pub fn parse_documents(source: &Arc<Source>) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder {
        source: source.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        documents: Vec::new(),
    };
    let mut parser = Parser::new_from_str(&source.text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|err| SyntaxError {
            message: describe_scan_error(err.info()),
            location: Location::new(source.clone(), pos(err.marker())),
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.documents)
}

/// Parses a text that must hold at most one document; `None` when it holds none.
pub fn parse_document(source: &Arc<Source>) -> Result<Option<Node>, SyntaxError> {
    let mut documents = parse_documents(source)?;
    match documents.len() {
        0 | 1 => Ok(documents.pop()),
        _ => Err(SyntaxError {
            message: "expected one YAML document, found several (separated by `---`)".into(),
            location: documents[1].location(),
        }),
    }
}

fn describe_scan_error(info: &str) -> String {
    // The scanner's wording is terse; the common mistakes get a plainer sentence.
    match info {
        "mapping values are not allowed in this context" => {
            "unexpected `:`; check the indentation of this line (or quote a value containing `: `)"
                .into()
        }
        "did not find expected key" => {
            "unexpected content; check the indentation of this line".into()
        }
        other => other.to_owned(),
    }
}

fn pos(marker: &Marker) -> Pos {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Pos::new(clamp(marker.line()), clamp(marker.col()).saturating_add(1))
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: Pos,
        anchor: usize,
        flow: bool,
    },
    Map {
        entries: Vec<Entry>,
        merged: Vec<Entry>,
        key: Option<(String, Pos, bool)>,
        start: Pos,
        anchor: usize,
        flow: bool,
    },
}

struct Builder {
    source: Arc<Source>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Node>,
}

impl Builder {
    fn error(&self, message: impl Into<String>, at: Pos) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            location: Location::new(self.source.clone(), at),
        }
    }

    fn is_flow(&self, at: Pos) -> bool {
        matches!(self.source.char_at(at), Some('[' | '{'))
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let start = pos(&span.start);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let scalar = self.scalar(&text, style, tag.as_deref(), start)?;
                let node = Node {
                    value: Value::Scalar(scalar),
                    start,
                    end: pos(&span.end),
                    source: self.source.clone(),
                };
                let is_plain_merge_key = style == ScalarStyle::Plain && text == "<<";
                self.finish(node, anchor, is_plain_merge_key)
            }
            Event::SequenceStart(anchor, _) => {
                let flow = self.is_flow(start);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    start,
                    anchor,
                    flow,
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                let flow = self.is_flow(start);
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    merged: Vec::new(),
                    key: None,
                    start,
                    anchor,
                    flow,
                });
                Ok(())
            }
            Event::SequenceEnd => {
                let Some(Frame::Seq {
                    items,
                    start,
                    anchor,
                    flow,
                }) = self.stack.pop()
                else {
                    return Err(self.error("unbalanced sequence", start));
                };
                let end = if flow {
                    pos(&span.end)
                } else {
                    items.last().map_or(start, |item| item.end)
                };
                let node = Node {
                    value: Value::Seq(items),
                    start,
                    end,
                    source: self.source.clone(),
                };
                self.finish(node, anchor, false)
            }
            Event::MappingEnd => {
                let Some(Frame::Map {
                    mut entries,
                    merged,
                    start,
                    anchor,
                    flow,
                    ..
                }) = self.stack.pop()
                else {
                    return Err(self.error("unbalanced mapping", start));
                };
                let end = if flow {
                    pos(&span.end)
                } else {
                    entries.last().map_or(start, |entry| entry.value.end)
                };
                // Explicit keys win over merged ones, as in YAML merge (`<<`) semantics.
                for entry in merged {
                    if !entries.iter().any(|existing| existing.key == entry.key) {
                        entries.push(entry);
                    }
                }
                let node = Node {
                    value: Value::Map(entries),
                    start,
                    end,
                    source: self.source.clone(),
                };
                self.finish(node, anchor, false)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(self.error("alias refers to an unknown anchor", start));
                };
                self.finish(node, 0, false)
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => Ok(()),
        }
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        at: Pos,
    ) -> Result<Scalar, SyntaxError> {
        let Some(tag) = tag.filter(|tag| tag.is_yaml_core_schema()) else {
            return Ok(match style {
                ScalarStyle::Plain => Scalar::resolve_plain(text),
                _ => Scalar::string(text),
            });
        };
        let resolved = Scalar::resolve_plain(text);
        let kind = match (tag.suffix.as_str(), resolved.kind) {
            ("str", _) => ScalarKind::Str,
            ("null", ScalarKind::Null)
            | ("bool", ScalarKind::Bool(_))
            | ("int", ScalarKind::Int(_))
            | ("float", ScalarKind::Float(_)) => resolved.kind,
            ("float", ScalarKind::Int(i)) => ScalarKind::Float(i as f64),
            (suffix, _) => {
                return Err(self.error(format!("`{text}` is not a valid !!{suffix}"), at));
            }
        };
        Ok(Scalar {
            text: text.to_owned(),
            kind,
        })
    }

    /// Places a completed node: as a document, a sequence item, a mapping key or a value.
    fn finish(&mut self, node: Node, anchor: usize, merge_key: bool) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(frame) = self.stack.last_mut() else {
            self.documents.push(node);
            return Ok(());
        };
        match frame {
            Frame::Seq { items, .. } => {
                items.push(node);
                Ok(())
            }
            Frame::Map {
                key: slot @ None, ..
            } => {
                let Value::Scalar(scalar) = node.value else {
                    return Err(SyntaxError {
                        message: "a mapping key must be a plain value, not a list or mapping"
                            .into(),
                        location: Location::new(self.source.clone(), node.start),
                    });
                };
                *slot = Some((scalar.text, node.start, merge_key));
                Ok(())
            }
            Frame::Map {
                key: slot @ Some(_),
                entries,
                merged,
                ..
            } => {
                let Some((key, key_pos, is_merge)) = slot.take() else {
                    unreachable!("matched Some above");
                };
                if is_merge {
                    return merge_into(merged, node, &self.source);
                }
                if let Some(first) = entries.iter().find(|entry| entry.key == key) {
                    let first_line = first.key_pos.line;
                    return Err(SyntaxError {
                        message: format!(
                            "duplicate key `{key}` (first defined on line {first_line})"
                        ),
                        location: Location::new(self.source.clone(), key_pos),
                    });
                }
                entries.push(Entry {
                    key,
                    key_pos,
                    value: node,
                });
                Ok(())
            }
        }
    }
}

/// `<<: *base` or `<<: [*a, *b]`: earlier mappings in the list take precedence.
fn merge_into(
    merged: &mut Vec<Entry>,
    node: Node,
    source: &Arc<Source>,
) -> Result<(), SyntaxError> {
    let maps = match node.value {
        Value::Map(entries) => vec![entries],
        Value::Seq(items) => items
            .into_iter()
            .map(|item| match item.value {
                Value::Map(entries) => Ok(entries),
                _ => Err(item.start),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|at| SyntaxError {
                message: "`<<` merges mappings only".into(),
                location: Location::new(source.clone(), at),
            })?,
        Value::Scalar(_) => {
            return Err(SyntaxError {
                message: "`<<` merges mappings only".into(),
                location: Location::new(source.clone(), node.start),
            });
        }
    };
    for entry in maps.into_iter().flatten() {
        if !merged.iter().any(|existing| existing.key == entry.key) {
            merged.push(entry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path;

    fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
        parse_documents(&Source::file("t.yaml", text))
    }

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let docs = parse("a: 1\nb:\n  - x: \"q\"\n    y: [1, 2]\nc: |\n  text\n").unwrap();
        let root = &docs[0];
        assert_eq!(root.locate(&path!["b", 0, "y"]).pos, Pos::new(4, 5));
        assert_eq!(root.locate_value(&path!["b", 0, "y"]).pos, Pos::new(4, 8));
        assert_eq!(root.at(&path!["b", 0, "y"]).unwrap().end, Pos::new(4, 14));
        assert_eq!(root.at(&path!["b", 0, "x"]).unwrap().as_str(), Some("q"));
        assert_eq!(root.get("c").unwrap().as_str(), Some("text\n"));
        assert_eq!(root.get("b").unwrap().end, Pos::new(4, 14));
        // Missing paths point at the deepest ancestor that exists.
        assert_eq!(root.locate(&path!["b", 0, "nope", "x"]).pos, Pos::new(3, 5));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let docs = parse("a: '1'\nb: 1\nc: !!str 2\nd: \"true\"\n").unwrap();
        let kind = |key| docs[0].get(key).unwrap().as_scalar().unwrap().kind;
        assert_eq!(kind("a"), ScalarKind::Str);
        assert_eq!(kind("b"), ScalarKind::Int(1));
        assert_eq!(kind("c"), ScalarKind::Str);
        assert_eq!(kind("d"), ScalarKind::Str);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let docs =
            parse("base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n").unwrap();
        let other = docs[0].get("other").unwrap().to_json();
        assert_eq!(other, serde_json::json!({"y": 3, "x": 1}));
        assert_eq!(
            docs[0].get("list").unwrap().to_json(),
            serde_json::json!([{"x": 1, "y": 2}])
        );
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        let err = parse("name: a\nspec: {}\nname: b\n").unwrap_err();
        assert_eq!(err.location.pos, Pos::new(3, 1));
        assert!(
            err.message.contains("duplicate key `name`"),
            "{}",
            err.message
        );
        assert!(err.message.contains("line 1"));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!(err.location.pos.line, 2);
        assert!(err.message.contains("indentation"), "{}", err.message);
        let err = parse("a: [1, 2\nc: 3\n").unwrap_err();
        assert_eq!(err.location.pos, Pos::new(2, 2));
    }

    #[test]
    fn multiple_documents_and_empty_streams() {
        assert_eq!(parse("a: 1\n---\nb: 2\n").unwrap().len(), 2);
        assert!(parse("# only a comment\n").unwrap().is_empty());
        assert!(parse("").unwrap().is_empty());
        assert!(parse_document(&Source::file("t", "a: 1\n---\nb: 2\n")).is_err());
    }

    #[test]
    fn complex_keys_are_rejected() {
        let err = parse("? [a, b]\n: 1\n").unwrap_err();
        assert!(err.message.contains("mapping key"), "{}", err.message);
    }
}
