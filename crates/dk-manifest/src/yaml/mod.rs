//! Positioned YAML: parse a text into a tree whose every node knows its source, line and
//! column; read typed values from it with exact error locations; and edit YAML text in place
//! without losing the comments and layout a human wrote.

mod de;
mod edit;
mod node;
mod parse;
mod source;

pub use de::{DeError, DeErrorKind, UnknownField, from_node};
pub use edit::{
    EditError, Edited, remove_value, render_block, render_flow, render_string, set_value,
};
pub use node::{Entry, Node, Scalar, ScalarKind, Seg, Value, display_path};
pub use parse::{
    MAX_DEPTH, MAX_NODES, MAX_SCALAR_BYTES, MAX_TEXT_BYTES, SyntaxError, SyntaxErrorKind,
    parse_document, parse_documents,
};
pub use source::{Location, Origin, Pos, Source};
