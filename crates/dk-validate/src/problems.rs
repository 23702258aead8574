//! Loading problems as findings.

use dk_manifest::load::Problem;
use dk_manifest::model::{API_VERSION, Kind};
use dk_manifest::yaml::{DeErrorKind, MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES, SyntaxError};

use crate::Finding;
use crate::rules;

fn did_you_mean(suggestion: Option<&str>) -> Option<String> {
    suggestion.map(|name| format!("did you mean `{name}`?"))
}

fn at_path(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

/// A YAML text over dk's limits: valid YAML, so not DK001, but refused before it costs memory.
pub(crate) fn syntax_limit(err: &SyntaxError) -> Finding {
    Finding::new(
        &rules::YAML_LIMITS,
        format!("YAML over dk's limits: {}", err.message),
        Some(err.location.clone()),
    )
    .with_hint(format!(
        "keep YAML files under {} MiB, {MAX_DEPTH} levels deep and {MAX_NODES} nodes with every alias expanded; write repeated values out instead of nesting aliases",
        MAX_TEXT_BYTES >> 20
    ))
}

pub(crate) fn finding(problem: &Problem) -> Finding {
    let location = problem.location().cloned();
    match problem {
        Problem::Unreadable { path, message } => Finding::new(
            &rules::UNREADABLE_FILE,
            format!("cannot read {}: {message}", path.display()),
            None,
        ),
        Problem::Syntax(err) if err.is_limit() => syntax_limit(err),
        Problem::Syntax(err) => Finding::new(
            &rules::YAML_SYNTAX,
            format!("invalid YAML: {}", err.message),
            location,
        ),
        Problem::UnknownField(field) => {
            let within = if field.parent.is_empty() {
                String::new()
            } else {
                format!(" in {}", field.parent)
            };
            Finding::new(
                &rules::UNKNOWN_FIELD,
                format!("unknown field `{}`{within}", field.key),
                location,
            )
            .with_hint(
                did_you_mean(field.suggestion)
                    .unwrap_or_else(|| "remove it: dk ignores fields it does not know".into()),
            )
        }
        Problem::Invalid(err) => {
            let rule = match err.kind {
                DeErrorKind::MissingField => &rules::MISSING_FIELD,
                DeErrorKind::UnknownValue => &rules::UNKNOWN_VALUE,
                DeErrorKind::Type | DeErrorKind::Other => &rules::INVALID_VALUE,
            };
            let hint = match err.kind {
                DeErrorKind::UnknownValue => did_you_mean(err.suggestion),
                DeErrorKind::Type
                    if err.message.contains("found a list")
                        || err.message.contains("found a mapping") =>
                {
                    Some(
                        "check the indentation: a nested block may have been meant as a value"
                            .into(),
                    )
                }
                _ => None,
            };
            Finding::new(rule, at_path(&err.path, &err.message), location).with_optional_hint(hint)
        }
        Problem::NotAMapping { .. } | Problem::MissingKind { .. } => {
            Finding::new(&rules::UNKNOWN_KIND, problem.to_string(), location).with_hint(format!(
                "start the document with apiVersion: {API_VERSION} and a kind: {}",
                Kind::NAMES.join(", ")
            ))
        }
        Problem::UnknownKind { suggestion, .. } => {
            Finding::new(&rules::UNKNOWN_KIND, problem.to_string(), location).with_hint(
                did_you_mean(*suggestion)
                    .unwrap_or_else(|| format!("kinds are {}", Kind::NAMES.join(", "))),
            )
        }
        Problem::ApiVersion { .. } => {
            Finding::new(&rules::API_VERSION, problem.to_string(), location)
                .with_hint(format!("use apiVersion: {API_VERSION}"))
        }
        Problem::MisplacedKind { kind, .. } => {
            let hint = match kind.folder() {
                Some(folder) => format!("move it to {folder}/"),
                None => "a Transform belongs in the package's dk.yaml".into(),
            };
            Finding::new(&rules::MISPLACED_MANIFEST, problem.to_string(), location).with_hint(hint)
        }
        Problem::NotATransform { .. } => {
            Finding::new(&rules::MISSING_TRANSFORM, problem.to_string(), location)
                .with_hint("dk.yaml is the package's Transform manifest; create one with `dk init`")
        }
        Problem::DuplicateName { first, .. } => Finding::new(
            &rules::DUPLICATE_NAME,
            format!("{problem} (first at {first})"),
            location,
        )
        .with_hint("rename one of them; names are unique per kind within a package or project"),
        Problem::Override(err) => Finding::new(&rules::OVERRIDE_CONFLICT, err.to_string(), None),
    }
}
