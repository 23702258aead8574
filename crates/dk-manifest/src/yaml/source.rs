//! Where a YAML text came from, and positions inside it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// The origin of a YAML text: a file on disk or a command-line flag such as `--set a.b=1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A file, as the user named it (kept relative so output stays short and stable).
    File(PathBuf),
    /// A command-line argument, quoted exactly as given.
    Flag(String),
    /// Defined by dk itself (the built-in connectors).
    Builtin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Builtin => f.write_str("<built-in>"),
        }
    }
}

/// A YAML text and its origin. Shared by every node parsed from it so that any node can say
/// where it came from without a side table.
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    pub origin: Origin,
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(origin: Origin, text: impl Into<String>) -> Arc<Self> {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Arc::new(Source {
            origin,
            text,
            line_starts,
        })
    }

    pub fn file(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        Source::new(Origin::File(path.into()), text)
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(path) => Some(path),
            Origin::Flag(_) | Origin::Builtin => None,
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: u32) -> Option<&str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(index)?;
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |next| next - 1);
        Some(self.text[start..end].trim_end_matches('\r'))
    }

    /// Byte offset of a position; positions past the end of a line clamp to its end.
    pub fn offset(&self, pos: Pos) -> usize {
        let Some(line) = self.line(pos.line) else {
            return self.text.len();
        };
        let start = self.line_starts[(pos.line - 1) as usize];
        let within = line
            .char_indices()
            .nth(pos.column.saturating_sub(1) as usize)
            .map_or(line.len(), |(i, _)| i);
        start + within
    }

    /// The character at a position, if any.
    pub fn char_at(&self, pos: Pos) -> Option<char> {
        self.text[self.offset(pos)..].chars().next()
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    schemars::JsonSchema,
)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub fn new(line: u32, column: u32) -> Self {
        Pos { line, column }
    }
}

/// A position in a particular source: what findings and errors point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub source: Arc<Source>,
    pub pos: Pos,
}

impl Location {
    pub fn new(source: Arc<Source>, pos: Pos) -> Self {
        Location { source, pos }
    }

    /// Start of a file, for findings about a whole file.
    pub fn file_start(source: Arc<Source>) -> Self {
        Location {
            source,
            pos: Pos::new(1, 1),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.source.origin
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source.origin {
            Origin::File(path) => write!(
                f,
                "{}:{}:{}",
                path.display(),
                self.pos.line,
                self.pos.column
            ),
            Origin::Flag(_) | Origin::Builtin => write!(f, "{}", self.source.origin),
        }
    }
}

/// Serialized as `{"file", "line", "column"}` for files, `{"flag"}` for command-line values and
/// `{"builtin": true}` for dk's own definitions.
impl Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match &self.source.origin {
            Origin::File(path) => {
                let mut s = serializer.serialize_struct("Location", 3)?;
                s.serialize_field("file", &path.display().to_string())?;
                s.serialize_field("line", &self.pos.line)?;
                s.serialize_field("column", &self.pos.column)?;
                s.end()
            }
            Origin::Flag(flag) => {
                let mut s = serializer.serialize_struct("Location", 1)?;
                s.serialize_field("flag", flag)?;
                s.end()
            }
            Origin::Builtin => {
                let mut s = serializer.serialize_struct("Location", 1)?;
                s.serialize_field("builtin", &true)?;
                s.end()
            }
        }
    }
}

impl schemars::JsonSchema for Location {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Location".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "file": { "type": "string" },
                        "line": { "type": "integer", "minimum": 1 },
                        "column": { "type": "integer", "minimum": 1 }
                    },
                    "required": ["file", "line", "column"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": { "flag": { "type": "string" } },
                    "required": ["flag"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": { "builtin": { "const": true } },
                    "required": ["builtin"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_offsets_count_characters() {
        let source = Source::file("a.yaml", "a: 1\nnäme: x\r\nlast");
        assert_eq!(source.line(1), Some("a: 1"));
        assert_eq!(source.line(2), Some("näme: x"));
        assert_eq!(source.line(3), Some("last"));
        assert_eq!(source.line(4), None);
        assert_eq!(source.offset(Pos::new(2, 3)), 5 + 3);
        assert_eq!(source.char_at(Pos::new(2, 3)), Some('m'));
        assert_eq!(source.offset(Pos::new(9, 1)), source.text.len());
    }

    #[test]
    fn locations_display_as_file_line_column() {
        let source = Source::file("pkg/dk.yaml", "");
        assert_eq!(
            Location::new(source, Pos::new(3, 7)).to_string(),
            "pkg/dk.yaml:3:7"
        );
        let flag = Source::new(Origin::Flag("--set a=1".into()), "1");
        assert_eq!(Location::file_start(flag).to_string(), "--set a=1");
    }
}
