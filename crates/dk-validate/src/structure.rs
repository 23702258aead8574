//! Structural rules: names, versions, schedules, durations, locators, schema fields, env, ...

use std::collections::{HashMap, HashSet};

use croner::parser::{CronParser, Seconds, Year};

use dk_manifest::discover::Catalog;
use dk_manifest::load::Loaded;
use dk_manifest::model::{
    Manifest, Mode, Runtime, Store, Transform, TriggerPolicy, connection_keys, is_dns_label,
    looks_secret, to_dns_label,
};
use dk_manifest::path;
use dk_manifest::suggest::did_you_mean;
use dk_manifest::units::{is_quantity, parse_duration};
use dk_manifest::yaml::{Location, Seg};

use crate::Finding;
use crate::rules;

/// A value as it may be shown in a message: control characters (a newline in a name) escaped.
fn shown(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// DK101 for a metadata field that becomes a Kubernetes name, an OCI repository path segment
/// or a lineage job: `..`, `/`, empty, uppercase and non-ASCII values never get that far.
fn check_label<S>(loaded: &Loaded<Manifest<S>>, field: &str, value: &str, out: &mut Vec<Finding>) {
    if is_dns_label(value) {
        return;
    }
    let suggestion = to_dns_label(value);
    let hint = if suggestion.is_empty() {
        "use lowercase letters, digits and '-'".to_owned()
    } else {
        format!("use lowercase letters, digits and '-', e.g. `{suggestion}`")
    };
    out.push(
        Finding::new(
            &rules::INVALID_NAME,
            format!("metadata.{field} `{}` is not a DNS label", shown(value)),
            loaded.node.locate_value(&path!["metadata", field]),
        )
        .with_hint(hint),
    );
}

fn check_metadata<S>(loaded: &Loaded<Manifest<S>>, out: &mut Vec<Finding>) {
    let metadata = &loaded.manifest.metadata;
    check_label(loaded, "name", &metadata.name, out);
    check_label(loaded, "namespace", &metadata.namespace, out);
    if let Some(version) = &metadata.version
        && let Err(err) = semver::Version::parse(version)
    {
        let hint = match version.strip_prefix('v') {
            Some(rest) if semver::Version::parse(rest).is_ok() => {
                format!("write `{rest}` without the leading v")
            }
            _ => "write MAJOR.MINOR.PATCH, e.g. 1.0.0".to_owned(),
        };
        out.push(
            Finding::new(
                &rules::INVALID_VERSION,
                format!(
                    "metadata.version `{}` is not a semantic version: {err}",
                    shown(version)
                ),
                loaded.node.locate_value(&path!["metadata", "version"]),
            )
            .with_hint(hint),
        );
    }
}

fn check_cron(transform: &Loaded<Transform>, cron: &str, at: &[Seg], out: &mut Vec<Finding>) {
    if let Some(err) = cron_error(cron) {
        out.push(
            Finding::new(
                &rules::INVALID_SCHEDULE,
                format!("cron `{cron}` does not parse: {err}"),
                transform.node.locate_value(at),
            )
            .with_hint("use five fields: minute hour day-of-month month day-of-week, e.g. `0 2 * * *` (02:00 daily)"),
        );
    }
}

/// Most distinct schedules remembered per thread: a project holds few (`0 2 * * *` in many
/// packages), and memory must not follow the number of packages.
const CRON_CACHE: usize = 4096;

/// Why `cron` does not parse, if it does not. Parsing a schedule costs more than reading the
/// rest of a package's Transform, and packages share schedules: each thread remembers the
/// answers it has given.
fn cron_error(cron: &str) -> Option<String> {
    thread_local! {
        static KNOWN: std::cell::RefCell<HashMap<String, Option<String>>> = Default::default();
    }
    KNOWN.with_borrow_mut(|known| {
        if let Some(answer) = known.get(cron) {
            return answer.clone();
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let answer = parser.parse(cron).err().map(|err| err.to_string());
        if known.len() >= CRON_CACHE {
            known.clear();
        }
        known.insert(cron.to_owned(), answer.clone());
        answer
    })
}

pub(crate) fn check_transform(transform: &Loaded<Transform>, out: &mut Vec<Finding>) {
    check_metadata(transform, out);
    let spec = &transform.manifest.spec;
    let node = &transform.node;
    for (field, refs) in [("inputs", &spec.inputs), ("outputs", &spec.outputs)] {
        // dbt declares what it reads as sources and seeds; a project with neither builds
        // models from constants, and reads nothing dk could name.
        let may_be_empty = field == "inputs" && spec.runtime == Runtime::Dbt;
        if refs.is_empty() && !may_be_empty {
            out.push(
                Finding::new(
                    &rules::EMPTY_IO,
                    format!("spec.{field} is empty"),
                    node.locate(&path!["spec", field]),
                )
                .with_hint(format!(
                    "list at least one dataset: {field}: [{{dataset: NAME}}]"
                )),
            );
        }
        for (index, reference) in refs.iter().enumerate() {
            let at = path!["spec", field, index];
            let shape = match (&reference.dataset, reference.tags.is_empty()) {
                (None, true) => Some("names no dataset; set `dataset: NAME` or select by `tags`"),
                (Some(_), false) => Some("sets both `dataset` and `tags`; keep one"),
                _ => None,
            };
            if let Some(problem) = shape {
                out.push(Finding::new(
                    &rules::DATASET_REFERENCE,
                    format!("spec.{field}[{index}] {problem}"),
                    node.locate(&at),
                ));
            }
            if let Some(range) = &reference.version
                && let Err(err) = semver::VersionReq::parse(range)
            {
                out.push(
                    Finding::new(
                        &rules::DATASET_REFERENCE,
                        format!(
                            "spec.{field}[{index}].version `{range}` is not a version range: {err}"
                        ),
                        node.locate_value(&[&at[..], &path!["version"]].concat()),
                    )
                    .with_hint("use a semver range such as ^1.2 or >=1.0, <2"),
                );
            }
        }
    }
    if let Some(schedule) = &spec.schedule {
        check_cron(
            transform,
            &schedule.cron,
            &path!["spec", "schedule", "cron"],
            out,
        );
        if spec.mode == Mode::Streaming {
            out.push(
                Finding::new(
                    &rules::STREAMING_SCHEDULE,
                    "spec.schedule is ignored in streaming mode",
                    node.locate(&path!["spec", "schedule"]),
                )
                .with_hint("remove the schedule, or use mode: batch"),
            );
        }
    }
    if let Some(trigger) = &spec.trigger {
        if let Some(schedule) = &trigger.schedule {
            check_cron(
                transform,
                &schedule.cron,
                &path!["spec", "trigger", "schedule", "cron"],
                out,
            );
        }
        if spec.schedule.is_some() {
            out.push(
                Finding::new(
                    &rules::SCHEDULE_AND_TRIGGER,
                    "spec sets both schedule and trigger",
                    node.locate(&path!["spec", "trigger"]),
                )
                .with_hint("keep one: schedule is shorthand for a trigger with policy: schedule"),
            );
        } else if trigger.policy == TriggerPolicy::Schedule && trigger.schedule.is_none() {
            out.push(
                Finding::new(
                    &rules::SCHEDULE_AND_TRIGGER,
                    "trigger policy `schedule` needs trigger.schedule.cron",
                    node.locate(&path!["spec", "trigger", "policy"]),
                )
                .with_hint("add schedule: {cron: \"0 * * * *\"} under trigger"),
            );
        }
    }
    if spec.mode == Mode::Streaming && !spec.runtime.supports_streaming() {
        out.push(
            Finding::new(
                &rules::RUNTIME_MODE,
                format!("runtime {} does not support mode streaming", spec.runtime),
                node.locate_value(&path!["spec", "mode"]),
            )
            .with_hint(format!(
                "{} runs batch jobs; use generic-python or generic-go for streaming",
                spec.runtime
            )),
        );
    }
    if let Some(timeout) = &spec.timeout
        && let Err(reason) = parse_duration(timeout)
    {
        out.push(Finding::new(
            &rules::INVALID_DURATION,
            format!("spec.timeout: {reason}"),
            node.locate_value(&path!["spec", "timeout"]),
        ));
    }
    if let Some(resources) = &spec.resources {
        for (field, value) in [("cpu", &resources.cpu), ("memory", &resources.memory)] {
            if let Some(value) = value.as_deref().filter(|value| !is_quantity(value)) {
                out.push(
                    Finding::new(
                        &rules::INVALID_RESOURCES,
                        format!("spec.resources.{field} `{value}` is not a quantity"),
                        node.locate_value(&path!["spec", "resources", field]),
                    )
                    .with_hint(if field == "cpu" {
                        "e.g. 500m or 2"
                    } else {
                        "e.g. 512Mi or 2Gi"
                    }),
                );
            }
        }
    }
    let mut seen = HashSet::new();
    for (index, var) in spec.env.iter().enumerate() {
        let valid = var
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        let problem = if !valid {
            Some("is not a valid environment variable name".to_owned())
        } else if var.name.starts_with("DK_") || var.name.starts_with("OPENLINEAGE_") {
            Some(
                "is reserved: dk sets DK_* and OPENLINEAGE_* variables for the pipeline".to_owned(),
            )
        } else if !seen.insert(var.name.as_str()) {
            Some("is set twice".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            out.push(Finding::new(
                &rules::INVALID_ENV,
                format!("spec.env[{index}] `{}` {problem}", var.name),
                node.locate_value(&path!["spec", "env", index, "name"]),
            ));
        }
    }
}

/// A package's Transform as the rule across packages on names sees it.
#[derive(Debug)]
pub(crate) struct TransformName {
    namespace: String,
    name: String,
    /// Where `metadata.name` is written.
    location: Location,
}

impl TransformName {
    pub(crate) fn of(transform: &Loaded<Transform>) -> TransformName {
        TransformName {
            namespace: transform.manifest.metadata.namespace.clone(),
            name: transform.name().to_owned(),
            location: transform.locate(&path!["metadata", "name"]),
        }
    }
}

/// Two packages of a project with one Transform name (in one namespace) would share their lineage
/// job, OCI repository and GitOps path.
pub(crate) fn check_transform_names<'a>(
    transforms: impl IntoIterator<Item = &'a TransformName>,
    out: &mut Vec<Finding>,
) {
    let mut seen: HashMap<(&str, &str), &Location> = HashMap::new();
    for transform in transforms {
        let key = (transform.namespace.as_str(), transform.name.as_str());
        match seen.get(&key) {
            None => {
                seen.insert(key, &transform.location);
            }
            Some(first) => out.push(
                Finding::new(
                    &rules::DUPLICATE_NAME,
                    format!(
                        "Transform `{}` is defined twice in namespace {} (first at {first})",
                        transform.name, key.0,
                    ),
                    transform.location.clone(),
                )
                .with_hint("give each package of a project its own name: it names its lineage job, artifact and deployment"),
            ),
        }
    }
}

fn is_env_reference(value: &str) -> bool {
    value
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|name| {
            name.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

pub(crate) fn check_catalog(catalog: &Catalog, out: &mut Vec<Finding>) {
    for dataset in catalog.datasets() {
        check_metadata(dataset, out);
        let spec = &dataset.manifest.spec;
        let locators = spec.locators();
        match locators.len() {
            1 => {}
            0 => out.push(
                Finding::new(
                    &rules::DATASET_LOCATOR,
                    format!("dataset '{}' does not say where its data is", dataset.name()),
                    dataset.node.locate(&path!["spec"]),
                )
                .with_hint("set one of table (databases), prefix (object stores), topic (Kafka) or path (files)"),
            ),
            _ => out.push(
                Finding::new(
                    &rules::DATASET_LOCATOR,
                    format!(
                        "dataset '{}' sets {}; exactly one is allowed",
                        dataset.name(),
                        locators.iter().map(|(kind, _)| kind.as_str()).collect::<Vec<_>>().join(" and ")
                    ),
                    dataset.node.locate(&path!["spec", locators[1].0.as_str()]),
                ),
            ),
        }
        let mut seen = HashSet::new();
        for (index, field) in spec.schema.iter().enumerate() {
            if !seen.insert(field.name.as_str()) {
                out.push(Finding::new(
                    &rules::DUPLICATE_FIELD,
                    format!(
                        "dataset '{}' declares field `{}` twice",
                        dataset.name(),
                        field.name
                    ),
                    dataset
                        .node
                        .locate_value(&path!["spec", "schema", index, "name"]),
                ));
            }
            if let Some(from) = &field.from
                && field
                    .source()
                    .is_none_or(|(set, name)| set.is_empty() || name.is_empty())
            {
                out.push(
                    Finding::new(
                        &rules::LINEAGE_SOURCE_FORMAT,
                        format!(
                            "field `{}`: from `{from}` must read dataset.field",
                            field.name
                        ),
                        dataset
                            .node
                            .locate_value(&path!["spec", "schema", index, "from"]),
                    )
                    .with_hint("e.g. from: customers.email"),
                );
            }
        }
    }
    for store in catalog.stores() {
        check_metadata(store, out);
        for (key, value) in &store.manifest.spec.secrets {
            if !is_env_reference(value) {
                out.push(
                    Finding::new(
                        &rules::SECRET_REFERENCE,
                        format!(
                            "store '{}': secret `{key}` must be an ${{ENV_VAR}} reference",
                            store.name()
                        ),
                        store
                            .node
                            .locate_value(&path!["spec", "secrets", key.as_str()]),
                    )
                    .with_hint(format!(
                        "write {key}: ${{{}}} and export that variable",
                        key.to_ascii_uppercase().replace(['-', '.'], "_")
                    )),
                );
            }
        }
        for (key, value) in &store.manifest.spec.connection {
            let literal = value
                .as_str()
                .is_some_and(|text| !text.is_empty() && !is_env_reference(text));
            if literal && looks_secret(key) {
                out.push(
                    Finding::new(
                        &rules::INLINE_SECRET,
                        format!(
                            "store '{}': connection.{key} looks like a secret written in clear",
                            store.name()
                        ),
                        store
                            .node
                            .locate(&path!["spec", "connection", key.as_str()]),
                    )
                    .with_hint(format!("move it to spec.secrets as {key}: ${{ENV_VAR}}")),
                );
            }
        }
    }
    for connector in catalog.connectors() {
        check_metadata(connector, out);
        if connector.manifest.spec.capabilities.is_empty() {
            out.push(
                Finding::new(
                    &rules::INVALID_VALUE,
                    format!("connector '{}' lists no capabilities", connector.name()),
                    connector.node.locate(&path!["spec", "capabilities"]),
                )
                .with_hint("list source, destination or both"),
            );
        }
    }
    for group in catalog.groups() {
        check_metadata(group, out);
    }
}

/// DK118: a Store of a built-in connector type uses only the connection keys that connector
/// reads, with values of their types, and sets the ones it cannot do without. Secrets count as
/// connection keys: they are added to the connection at run time.
pub(crate) fn check_connection(
    store: &Loaded<Store>,
    connector_type: &str,
    out: &mut Vec<Finding>,
) {
    let Some(keys) = connection_keys(connector_type) else {
        return;
    };
    let spec = &store.manifest.spec;
    let known = |name: &str| keys.iter().find(|key| key.key == name);
    let unknown = |section: &str, name: &str| {
        // `hostname` is too far from `host` for an edit distance, but names it all the same.
        let suggestion = did_you_mean(name, keys.iter().map(|key| key.key)).or_else(|| {
            keys.iter()
                .map(|key| key.key)
                .find(|key| key.len() >= 4 && name.to_ascii_lowercase().starts_with(key))
        });
        Finding::new(
            &rules::CONNECTION_KEY,
            format!(
                "store '{}': connector {connector_type} does not read {section}.{name}",
                store.name()
            ),
            store.node.locate(&path!["spec", section, name]),
        )
        .with_hint(match suggestion {
            Some(key) => format!("did you mean `{key}`?"),
            None => format!(
                "{connector_type} reads {}",
                keys.iter()
                    .map(|key| key.key)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    };
    for (name, value) in &spec.connection {
        match known(name) {
            None => out.push(unknown("connection", name)),
            Some(key) if !key.value.accepts(value) => out.push(
                Finding::new(
                    &rules::CONNECTION_KEY,
                    format!(
                        "store '{}': connection.{name} must be {}",
                        store.name(),
                        key.value.describe()
                    ),
                    store
                        .node
                        .locate_value(&path!["spec", "connection", name.as_str()]),
                )
                .with_hint(format!("write {name}: VALUE as {}", key.value.describe())),
            ),
            Some(_) => {}
        }
    }
    for name in spec.secrets.keys() {
        if known(name).is_none() {
            out.push(unknown("secrets", name));
        }
    }
    for key in keys.iter().filter(|key| key.required) {
        let set = keys
            .iter()
            .filter(|other| other.setting == key.setting)
            .any(|other| {
                spec.connection.contains_key(other.key) || spec.secrets.contains_key(other.key)
            });
        if !set {
            out.push(
                Finding::new(
                    &rules::CONNECTION_KEY,
                    format!(
                        "store '{}': connector {connector_type} needs connection.{}",
                        store.name(),
                        key.key
                    ),
                    store.node.locate(&path!["spec", "connection"]),
                )
                .with_hint(format!("set connection.{}", key.key)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_references() {
        assert!(is_env_reference("${PGPASSWORD}"));
        assert!(!is_env_reference("$PGPASSWORD"));
        assert!(!is_env_reference("${1X}"));
        assert!(!is_env_reference("secret"));
    }
}
