//! A serde `Deserializer` over [`Node`] trees.
//!
//! Unlike deserializing from a plain value tree, every error carries the location of the node
//! that caused it, and unknown mapping keys are collected as warnings (with a suggestion drawn
//! from the struct's own field list) instead of being silently ignored or failing the load.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeOwned, Unexpected, Visitor};

use super::node::{Entry, Node, ScalarKind, Value};
use super::source::Location;
use crate::suggest::did_you_mean;

/// A mapping key the target type does not know.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownField {
    pub key: String,
    /// Path of the mapping holding the key, as users write it (`spec.inputs[0]`).
    pub parent: String,
    pub location: Location,
    pub suggestion: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeErrorKind {
    /// A value of the wrong type (a list where a string belongs).
    Type,
    /// A required field is absent.
    MissingField,
    /// A value outside a closed set (an enum).
    UnknownValue,
    Other,
}

/// Why a node could not be read as the target type, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub kind: DeErrorKind,
    pub message: String,
    /// Path of the offending node, as users write it; empty for the document root.
    pub path: String,
    pub location: Option<Location>,
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl DeError {
    fn new(kind: DeErrorKind, message: String) -> Self {
        DeError {
            kind,
            message,
            path: String::new(),
            location: None,
            suggestion: None,
        }
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(DeErrorKind::Other, msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(
            DeErrorKind::Type,
            format!(
                "expected {}, found {}",
                expected_name(exp),
                unexpected_name(&unexp)
            ),
        )
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(
            DeErrorKind::Type,
            format!(
                "invalid value {}: expected {}",
                unexpected_name(&unexp),
                expected_name(exp)
            ),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let allowed = expected
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut err = DeError::new(
            DeErrorKind::UnknownValue,
            format!("unknown value `{variant}`, expected one of {allowed}"),
        );
        err.suggestion = did_you_mean(variant, expected.iter().copied());
        err
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(
            DeErrorKind::MissingField,
            format!("missing required field `{field}`"),
        )
    }
}

fn expected_name(exp: &dyn de::Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "a sequence" => "a list".into(),
        "map" | "a map" => "a mapping".into(),
        "a boolean" => text,
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => {
            "an integer".into()
        }
        "f32" | "f64" => "a number".into(),
        "option" => "a value".into(),
        _ if text.starts_with("struct ") => "a mapping".into(),
        _ if text.starts_with("enum ") => "one of the allowed values".into(),
        _ => text,
    }
}

fn unexpected_name(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Map => "a mapping".into(),
        Unexpected::Seq => "a list".into(),
        Unexpected::Unit | Unexpected::Option => "an empty value".into(),
        Unexpected::Str(s) => format!("the string `{s}`"),
        Unexpected::Signed(n) => format!("the number {n}"),
        Unexpected::Unsigned(n) => format!("the number {n}"),
        Unexpected::Float(n) => format!("the number {n}"),
        Unexpected::Bool(b) => format!("`{b}`"),
        other => other.to_string(),
    }
}

/// Reads `node` as `T`, appending unknown keys to `unknown`.
pub fn from_node<T: DeserializeOwned>(
    node: &Node,
    unknown: &mut Vec<UnknownField>,
) -> Result<T, DeError> {
    let sink = RefCell::new(std::mem::take(unknown));
    let result = T::deserialize(NodeDeserializer {
        node,
        path: None,
        unknown: &sink,
    });
    *unknown = sink.into_inner();
    result
}

/// The path from the root to the node being read, kept on the stack so that nothing is
/// allocated unless an error or unknown key needs it.
#[derive(Clone, Copy)]
struct PathLink<'p> {
    parent: Option<&'p PathLink<'p>>,
    seg: SegRef<'p>,
}

#[derive(Clone, Copy)]
enum SegRef<'p> {
    Key(&'p str),
    Index(usize),
}

fn render_path(mut link: Option<&PathLink<'_>>) -> String {
    let mut segs = Vec::new();
    while let Some(current) = link {
        segs.push(current.seg);
        link = current.parent;
    }
    let mut out = String::new();
    for seg in segs.into_iter().rev() {
        match seg {
            SegRef::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            SegRef::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

#[derive(Clone, Copy)]
struct NodeDeserializer<'de, 'p> {
    node: &'de Node,
    path: Option<&'p PathLink<'p>>,
    unknown: &'p RefCell<Vec<UnknownField>>,
}

impl<'de> NodeDeserializer<'de, '_> {
    /// Errors raised below this node already know where they happened; others happened here.
    fn at(self, mut err: DeError) -> DeError {
        if err.location.is_none() {
            err.location = Some(self.node.location());
            err.path = render_path(self.path);
        }
        err
    }

    fn unexpected(&self) -> Unexpected<'de> {
        match &self.node.value {
            Value::Map(_) => Unexpected::Map,
            Value::Seq(_) => Unexpected::Seq,
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => Unexpected::Unit,
                ScalarKind::Bool(b) => Unexpected::Bool(b),
                ScalarKind::Int(i) => Unexpected::Signed(i),
                ScalarKind::Float(f) => Unexpected::Float(f),
                ScalarKind::Str => Unexpected::Str(&scalar.text),
            },
        }
    }

    fn mismatch<V: Visitor<'de>>(self, visitor: &V) -> DeError {
        self.at(de::Error::invalid_type(self.unexpected(), visitor))
    }

    fn visit_entries<V: Visitor<'de>>(
        self,
        entries: &'de [Entry],
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor
            .visit_map(MapAccess {
                entries: entries.iter(),
                fields,
                current: None,
                path: self.path,
                unknown: self.unknown,
            })
            .map_err(|err| self.at(err))
    }

    fn visit_items<V: Visitor<'de>>(
        self,
        items: &'de [Node],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor
            .visit_seq(SeqAccess {
                items: items.iter().enumerate(),
                path: self.path,
                unknown: self.unknown,
            })
            .map_err(|err| self.at(err))
    }
}

macro_rules! deserialize_integer {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            match &self.node.value {
                Value::Scalar(scalar) => match scalar.kind {
                    ScalarKind::Int(i) => visitor.visit_i64(i).map_err(|err| self.at(err)),
                    _ => Err(self.mismatch(&visitor)),
                },
                _ => Err(self.mismatch(&visitor)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => visitor.visit_unit(),
                ScalarKind::Bool(b) => visitor.visit_bool(b),
                ScalarKind::Int(i) => visitor.visit_i64(i),
                ScalarKind::Float(f) => visitor.visit_f64(f),
                ScalarKind::Str => visitor.visit_borrowed_str(&scalar.text),
            },
            Value::Seq(items) => return self.visit_items(items, visitor),
            Value::Map(entries) => return self.visit_entries(entries, None, visitor),
        };
        result.map_err(|err| self.at(err))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Bool(b) => visitor.visit_bool(b).map_err(|err| self.at(err)),
                _ => Err(self.mismatch(&visitor)),
            },
            _ => Err(self.mismatch(&visitor)),
        }
    }

    deserialize_integer!(
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Int(i) => visitor.visit_f64(i as f64).map_err(|err| self.at(err)),
                ScalarKind::Float(f) => visitor.visit_f64(f).map_err(|err| self.at(err)),
                _ => Err(self.mismatch(&visitor)),
            },
            _ => Err(self.mismatch(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    /// Any non-null scalar reads as its literal text: `version: 1.0` is the string "1.0".
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(scalar) if scalar.kind != ScalarKind::Null => visitor
                .visit_borrowed_str(&scalar.text)
                .map_err(|err| self.at(err)),
            _ => Err(self.mismatch(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(scalar) if scalar.kind == ScalarKind::Null => {
                visitor.visit_none().map_err(|err| self.at(err))
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(scalar) if scalar.kind == ScalarKind::Null => {
                visitor.visit_unit().map_err(|err| self.at(err))
            }
            _ => Err(self.mismatch(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => self.visit_items(items, visitor),
            _ => Err(self.mismatch(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => self.visit_entries(entries, None, visitor),
            _ => Err(self.mismatch(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => self.visit_entries(entries, Some(fields), visitor),
            _ => Err(self.mismatch(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(scalar) if scalar.kind != ScalarKind::Null => {
                let access = de::value::BorrowedStrDeserializer::<DeError>::new(&scalar.text);
                visitor.visit_enum(access).map_err(|err| self.at(err))
            }
            _ => Err(self.mismatch(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct MapAccess<'de, 'p> {
    entries: std::slice::Iter<'de, Entry>,
    fields: Option<&'static [&'static str]>,
    current: Option<&'de Entry>,
    path: Option<&'p PathLink<'p>>,
    unknown: &'p RefCell<Vec<UnknownField>>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for entry in self.entries.by_ref() {
            if let Some(fields) = self.fields
                && !fields.contains(&entry.key.as_str())
            {
                self.unknown.borrow_mut().push(UnknownField {
                    key: entry.key.clone(),
                    parent: render_path(self.path),
                    location: Location::new(entry.value.source.clone(), entry.key_pos),
                    suggestion: did_you_mean(&entry.key, fields.iter().copied()),
                });
                continue;
            }
            self.current = Some(entry);
            let key = de::value::BorrowedStrDeserializer::<DeError>::new(&entry.key);
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let entry = self
            .current
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value requested before its key"))?;
        let link = PathLink {
            parent: self.path,
            seg: SegRef::Key(&entry.key),
        };
        seed.deserialize(NodeDeserializer {
            node: &entry.value,
            path: Some(&link),
            unknown: self.unknown,
        })
    }
}

struct SeqAccess<'de, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Node>>,
    path: Option<&'p PathLink<'p>>,
    unknown: &'p RefCell<Vec<UnknownField>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((index, node)) = self.items.next() else {
            return Ok(None);
        };
        let link = PathLink {
            parent: self.path,
            seg: SegRef::Index(index),
        };
        seed.deserialize(NodeDeserializer {
            node,
            path: Some(&link),
            unknown: self.unknown,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml::{Pos, Source, parse_document};

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        name: String,
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        count: Option<u32>,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        dataset: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Batch,
        Streaming,
    }

    fn read(text: &str) -> (Result<Doc, DeError>, Vec<UnknownField>) {
        let node = parse_document(&Source::file("t.yaml", text))
            .unwrap()
            .unwrap();
        let mut unknown = Vec::new();
        (from_node(&node, &mut unknown), unknown)
    }

    #[test]
    fn reads_typed_values_and_literal_text_for_strings() {
        let (doc, unknown) = read("name: 1.0\ncount: 3\nlabels: {a: true}\nmode: batch\n");
        let doc = doc.unwrap();
        assert_eq!(doc.name, "1.0");
        assert_eq!(doc.count, Some(3));
        assert_eq!(doc.labels["a"], "true");
        assert_eq!(doc.mode, Some(Mode::Batch));
        assert!(unknown.is_empty());
    }

    #[test]
    fn unknown_fields_are_collected_with_location_and_suggestion() {
        let (doc, unknown) = read("name: x\nitems:\n  - datset: a\n    dataset: b\nextra: 1\n");
        assert_eq!(doc.unwrap().items[0].dataset, "b");
        assert_eq!(unknown.len(), 2);
        assert_eq!(unknown[0].key, "datset");
        assert_eq!(unknown[0].parent, "items[0]");
        assert_eq!(unknown[0].location.pos, Pos::new(3, 5));
        assert_eq!(unknown[0].suggestion, Some("dataset"));
        assert_eq!(unknown[1].parent, "");
        assert_eq!(unknown[1].suggestion, None);
    }

    #[test]
    fn type_errors_point_at_the_offending_node() {
        let (doc, _) = read("name: x\ncount: many\n");
        let err = doc.unwrap_err();
        assert_eq!(err.kind, DeErrorKind::Type);
        assert_eq!(err.path, "count");
        assert_eq!(err.location.unwrap().pos, Pos::new(2, 8));
        assert_eq!(err.message, "expected an integer, found the string `many`");
    }

    #[test]
    fn missing_fields_point_at_the_mapping() {
        let (doc, _) = read("name: x\nitems:\n  - other: 1\n");
        let err = doc.unwrap_err();
        assert_eq!(err.kind, DeErrorKind::MissingField);
        assert_eq!(err.path, "items[0]");
        assert_eq!(err.location.unwrap().pos, Pos::new(3, 5));
        assert_eq!(err.message, "missing required field `dataset`");
    }

    #[test]
    fn unknown_enum_values_suggest_the_closest() {
        let (doc, _) = read("name: x\nmode: streamin\n");
        let err = doc.unwrap_err();
        assert_eq!(err.kind, DeErrorKind::UnknownValue);
        assert_eq!(err.suggestion, Some("streaming"));
        assert_eq!(err.path, "mode");
        assert!(
            err.message.contains("`batch`, `streaming`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn lists_and_mappings_are_not_strings() {
        let (doc, _) = read("name: [a]\n");
        assert_eq!(doc.unwrap_err().message, "expected a string, found a list");
        let (doc, _) = read("name: x\nitems: ~\n");
        assert_eq!(
            doc.unwrap_err().message,
            "expected a list, found an empty value"
        );
        let (doc, _) = read("name: x\nitems: [7]\n");
        assert_eq!(
            doc.unwrap_err().message,
            "expected a mapping, found the number 7"
        );
    }
}
