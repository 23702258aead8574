//! Builds [`Node`] trees from `saphyr-parser` events, keeping every position.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};

use super::node::{Entry, Node, Scalar, ScalarKind, Value};
use super::source::{Location, Pos, Source};

/// The most bytes of YAML text dk parses at once. Readers cap their files at or below it.
pub const MAX_TEXT_BYTES: usize = 4 << 20;
/// The deepest nesting of mappings and lists, counting what aliases bring in.
pub const MAX_DEPTH: usize = 64;
/// The most nodes a text may produce, counting every copy an alias makes: nine levels of nine
/// aliases (a "billion laughs" bomb) stop here after a few megabytes instead of gigabytes.
pub const MAX_NODES: usize = 100_000;
/// The most bytes of scalar text a text may produce, counting every copy an alias makes.
pub const MAX_SCALAR_BYTES: usize = 16 << 20;

/// A YAML text that is not well-formed, uses a construct dk does not accept, or exceeds one of
/// the limits above.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SyntaxError {
    pub message: String,
    pub location: Location,
    pub kind: SyntaxErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxErrorKind {
    /// Not YAML, or YAML dk does not accept (complex keys, duplicate keys, ...).
    Invalid,
    /// Valid YAML that is too large, too deep or expands too much through aliases.
    Limit,
}

impl SyntaxError {
    fn invalid(message: impl Into<String>, location: Location) -> Self {
        SyntaxError {
            message: message.into(),
            location,
            kind: SyntaxErrorKind::Invalid,
        }
    }

    /// A limit exceeded at `location`.
    pub fn limit(message: impl Into<String>, location: Location) -> Self {
        SyntaxError {
            message: message.into(),
            location,
            kind: SyntaxErrorKind::Limit,
        }
    }

    pub fn is_limit(&self) -> bool {
        self.kind == SyntaxErrorKind::Limit
    }
}

/// Parses every document of a YAML stream. Empty documents (only comments) are skipped.
pub fn parse_documents(source: &Arc<Source>) -> Result<Vec<Node>, SyntaxError> {
    if source.text.len() > MAX_TEXT_BYTES {
        return Err(SyntaxError::limit(
            format!(
                "the text is {} bytes, more than the {MAX_TEXT_BYTES} bytes dk reads as YAML",
                source.text.len()
            ),
            Location::file_start(source.clone()),
        ));
    }
    let mut builder = Builder {
        source: source.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        documents: Vec::new(),
        nodes: 0,
        scalar_bytes: 0,
    };
    let mut parser = Parser::new_from_str(&source.text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|err| {
            let location = Location::new(source.clone(), pos(err.marker()));
            // The scanner counts flow nesting in a byte and may read ahead of the events that
            // would have stopped at MAX_DEPTH: past 255 levels its error is the same limit.
            if err.info() == "recursion limit exceeded" {
                SyntaxError::limit(nesting_message(), location)
            } else {
                SyntaxError::invalid(describe_scan_error(err.info()), location)
            }
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
        _ => Err(SyntaxError::invalid(
            "expected one YAML document, found several (separated by `---`)",
            documents[1].location(),
        )),
    }
}

fn nesting_message() -> String {
    format!("nesting deeper than {MAX_DEPTH} levels")
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
        size: Size,
    },
    Map {
        entries: Vec<Entry>,
        merged: Vec<Entry>,
        key: Option<(String, Pos, bool)>,
        start: Pos,
        anchor: usize,
        flow: bool,
        size: Size,
    },
}

impl Frame {
    fn size(&mut self) -> &mut Size {
        match self {
            Frame::Seq { size, .. } | Frame::Map { size, .. } => size,
        }
    }
}

/// The extent of a finished subtree, kept with each anchor so that an alias can be charged
/// for what it copies before it is copied.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    scalar_bytes: usize,
    /// Levels of nesting below and including the node; a scalar has none.
    height: usize,
}

impl Size {
    fn add_child(&mut self, child: Size) {
        self.nodes += child.nodes;
        self.scalar_bytes += child.scalar_bytes;
        self.height = self.height.max(child.height + 1);
    }
}

const COLLECTION: Size = Size {
    nodes: 1,
    scalar_bytes: 0,
    height: 1,
};

struct Builder {
    source: Arc<Source>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, Size)>,
    documents: Vec<Node>,
    /// Nodes and scalar bytes produced so far, alias copies included.
    nodes: usize,
    scalar_bytes: usize,
}

impl Builder {
    fn error(&self, message: impl Into<String>, at: Pos) -> SyntaxError {
        SyntaxError::invalid(message, Location::new(self.source.clone(), at))
    }

    fn limit(&self, message: impl Into<String>, at: Pos) -> SyntaxError {
        SyntaxError::limit(message, Location::new(self.source.clone(), at))
    }

    /// Charges `size` (a new node, or the copy an alias makes) against the text's limits.
    fn charge(&mut self, size: Size, at: Pos, alias: bool) -> Result<(), SyntaxError> {
        let what = if alias {
            "this alias expands the document to"
        } else {
            "the document has"
        };
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.scalar_bytes = self.scalar_bytes.saturating_add(size.scalar_bytes);
        if self.nodes > MAX_NODES {
            return Err(self.limit(
                format!("{what} more than {MAX_NODES} nodes (each alias counts as a full copy of its anchor)"),
                at,
            ));
        }
        if self.scalar_bytes > MAX_SCALAR_BYTES {
            return Err(self.limit(
                format!("{what} more than {MAX_SCALAR_BYTES} bytes of values (each alias counts as a full copy of its anchor)"),
                at,
            ));
        }
        if self.stack.len() + size.height > MAX_DEPTH {
            return Err(self.limit(format!("nesting deeper than {MAX_DEPTH} levels"), at));
        }
        Ok(())
    }

    fn is_flow(&self, at: Pos) -> bool {
        matches!(self.source.char_at(at), Some('[' | '{'))
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let start = pos(&span.start);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let size = Size {
                    nodes: 1,
                    scalar_bytes: text.len(),
                    height: 0,
                };
                self.charge(size, start, false)?;
                let scalar = self.scalar(&text, style, tag.as_deref(), start)?;
                let node = Node {
                    value: Value::Scalar(scalar),
                    start,
                    end: pos(&span.end),
                    source: self.source.clone(),
                };
                let is_plain_merge_key = style == ScalarStyle::Plain && text == "<<";
                self.finish(node, size, anchor, is_plain_merge_key)
            }
            Event::SequenceStart(anchor, _) => {
                self.charge(COLLECTION, start, false)?;
                let flow = self.is_flow(start);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    start,
                    anchor,
                    flow,
                    size: COLLECTION,
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.charge(COLLECTION, start, false)?;
                let flow = self.is_flow(start);
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    merged: Vec::new(),
                    key: None,
                    start,
                    anchor,
                    flow,
                    size: COLLECTION,
                });
                Ok(())
            }
            Event::SequenceEnd => {
                let Some(Frame::Seq {
                    items,
                    start,
                    anchor,
                    flow,
                    size,
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
                self.finish(node, size, anchor, false)
            }
            Event::MappingEnd => {
                let Some(Frame::Map {
                    mut entries,
                    merged,
                    start,
                    anchor,
                    flow,
                    size,
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
                self.finish(node, size, anchor, false)
            }
            Event::Alias(id) => {
                let Some(&(_, size)) = self.anchors.get(&id) else {
                    return Err(self.error("alias refers to an unknown anchor", start));
                };
                // Charged before the copy is made, so a bomb never gets to allocate.
                self.charge(size, start, true)?;
                let node = self.anchors[&id].0.clone();
                self.finish(node, size, 0, false)
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
    fn finish(
        &mut self,
        node: Node,
        size: Size,
        anchor: usize,
        merge_key: bool,
    ) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.documents.push(node);
            return Ok(());
        };
        frame.size().add_child(size);
        match frame {
            Frame::Seq { items, .. } => {
                items.push(node);
                Ok(())
            }
            Frame::Map {
                key: slot @ None, ..
            } => {
                let Value::Scalar(scalar) = node.value else {
                    return Err(SyntaxError::invalid(
                        "a mapping key must be a plain value, not a list or mapping",
                        Location::new(self.source.clone(), node.start),
                    ));
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
                    return Err(SyntaxError::invalid(
                        format!("duplicate key `{key}` (first defined on line {first_line})"),
                        Location::new(self.source.clone(), key_pos),
                    ));
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
            .map_err(|at| {
                SyntaxError::invalid(
                    "`<<` merges mappings only",
                    Location::new(source.clone(), at),
                )
            })?,
        Value::Scalar(_) => {
            return Err(SyntaxError::invalid(
                "`<<` merges mappings only",
                Location::new(source.clone(), node.start),
            ));
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

    /// Nine levels of nine aliases: 9^9 copies of a scalar if nothing stops it.
    fn billion_laughs() -> String {
        let mut text = String::from("a0: &a0 \"lol\"\n");
        for level in 1..=9 {
            let previous = level - 1;
            let aliases = vec![format!("*a{previous}"); 9].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
        }
        text
    }

    #[test]
    fn alias_bombs_stop_at_the_node_limit_at_the_alias() {
        let err = parse(&billion_laughs()).unwrap_err();
        assert_eq!(err.kind, SyntaxErrorKind::Limit);
        assert!(err.message.contains("alias"), "{}", err.message);
        assert!(err.location.pos.line > 1, "{:?}", err.location.pos);
    }

    #[test]
    fn aliases_of_long_scalars_stop_at_the_byte_limit() {
        let long = "x".repeat(1 << 20);
        let text = format!("a: &a {long}\nb: [{}]\n", vec!["*a"; 20].join(", "));
        let err = parse(&text).unwrap_err();
        assert!(err.is_limit(), "{err}");
        assert!(err.message.contains("bytes of values"), "{}", err.message);
    }

    #[test]
    fn nesting_is_limited_as_written_and_through_aliases() {
        for depth in [MAX_DEPTH + 1, 300, 100_000] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let err = parse(&deep).unwrap_err();
            assert!(err.is_limit(), "{err}");
            assert!(err.message.contains("nesting"), "{}", err.message);
        }
        assert!(
            parse(&format!(
                "{}{}",
                "[".repeat(MAX_DEPTH),
                "]".repeat(MAX_DEPTH)
            ))
            .is_ok()
        );
        // Each anchor nests the previous one a level deeper, while the text stays shallow.
        let mut chain = String::from("a0: &a0 [x]\n");
        for level in 1..=MAX_DEPTH {
            chain.push_str(&format!("a{level}: &a{level} [*a{}]\n", level - 1));
        }
        let err = parse(&chain).unwrap_err();
        assert!(err.is_limit(), "{err}");
    }

    #[test]
    fn oversized_texts_are_a_limit_not_a_syntax_error() {
        let text = format!("a: \"{}\"\n", "x".repeat(MAX_TEXT_BYTES));
        let err = parse(&text).unwrap_err();
        assert!(err.is_limit());
        assert_eq!(err.location.pos, Pos::new(1, 1));
        assert_eq!(parse("a: [1\n").unwrap_err().kind, SyntaxErrorKind::Invalid);
    }

    #[test]
    fn ordinary_aliases_stay_well_within_the_limits() {
        let text = "base: &b {x: 1}\nlist: [*b, *b, *b]\nm:\n  <<: *b\n";
        assert_eq!(
            parse(text).unwrap()[0]
                .get("list")
                .unwrap()
                .as_seq()
                .unwrap()
                .len(),
            3
        );
    }
}
