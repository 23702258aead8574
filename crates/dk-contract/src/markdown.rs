//! The Markdown view of a diff, for pull requests: a breaking diff opens with **Breaking** and
//! the consumers of what it breaks, so a reviewer sees who to warn before the change list.

use crate::{Diff, Level};

/// Text from manifests as it may sit in a table cell: no line breaks, no column separators.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

pub fn markdown(diff: &Diff) -> String {
    let mut out = String::new();
    if diff.changes.is_empty() {
        out.push_str("No changes to the package's manifests or files.\n");
        return out;
    }
    if diff.level() == Level::Breaking {
        out.push_str("**Breaking**\n\n");
        for dataset in diff.broken_datasets() {
            let consumers = diff.consumers.get(dataset).map_or(&[][..], Vec::as_slice);
            let who = if consumers.is_empty() {
                "no known consumers".to_owned()
            } else {
                consumers
                    .iter()
                    .map(|c| format!("`{}` ({})", cell(&c.name), c.source))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!("- `{}`: {who}\n", cell(dataset)));
        }
        out.push('\n');
    }
    out.push_str("| Level | Change |\n|---|---|\n");
    for change in &diff.changes {
        out.push_str(&format!(
            "| {} | {} |\n",
            change.level,
            cell(&change.message)
        ));
    }
    out
}
