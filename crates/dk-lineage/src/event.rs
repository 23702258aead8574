//! OpenLineage 2-0-2 run events and the facets dk emits.
//!
//! Facets are kept as JSON objects built by the functions below, each stamped with `_producer`
//! and the `_schemaURL` of its official facet schema, so that an event validates against the
//! specification and its facet schemas as it is.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The OpenLineage specification version dk's events follow.
pub const SPEC_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// The URI naming dk and its version as the producer of an event.
pub fn producer() -> String {
    format!(
        "https://datakit.infoblox.dev/dk/{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// A run's state transition.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Start,
    Running,
    Complete,
    Abort,
    Fail,
    Other,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Running => "RUNNING",
            EventType::Complete => "COMPLETE",
            EventType::Abort => "ABORT",
            EventType::Fail => "FAIL",
            EventType::Other => "OTHER",
        }
    }

    /// Whether the run is over after this event.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventType::Complete | EventType::Abort | EventType::Fail
        )
    }
}

pub type Facets = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub run_id: Uuid,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub facets: Facets,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Job {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub facets: Facets,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dataset {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub facets: Facets,
}

/// One OpenLineage RunEvent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    pub event_type: EventType,
    pub event_time: String,
    pub run: Run,
    pub job: Job,
    #[serde(default)]
    pub inputs: Vec<Dataset>,
    #[serde(default)]
    pub outputs: Vec<Dataset>,
    pub producer: String,
    #[serde(rename = "schemaURL")]
    pub schema_url: String,
}

impl RunEvent {
    /// The identity of an event for idempotent ingestion and delivery: one event per run,
    /// transition and time.
    pub fn key(&self) -> String {
        event_key(self.run.run_id, self.event_type, &self.event_time)
    }
}

/// The symlink type under which dk records a dataset's DataSet manifest name.
pub const DK_DATASET: &str = "DK_DATASET";

/// What the lineage store reads of an event: its identity, job and dataset names, without the
/// facets (parsing those costs more than storing the event).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHead {
    pub event_type: EventType,
    pub event_time: String,
    pub run: RunHead,
    pub job: JobHead,
    #[serde(default)]
    pub inputs: Vec<DatasetHead>,
    #[serde(default)]
    pub outputs: Vec<DatasetHead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunHead {
    pub run_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JobHead {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    facets: JobHeadFacets,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobHeadFacets {
    #[serde(default)]
    job_type: Option<JobTypeHead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobTypeHead {
    #[serde(default)]
    processing_type: Option<String>,
}

impl JobHead {
    /// Whether the `jobType` facet says STREAMING.
    pub fn streaming(&self) -> bool {
        self.facets
            .job_type
            .as_ref()
            .and_then(|job_type| job_type.processing_type.as_deref())
            == Some("STREAMING")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DatasetHead {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    facets: DatasetHeadFacets,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
struct DatasetHeadFacets {
    #[serde(default)]
    symlinks: Option<NameList>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct NameList {
    #[serde(default)]
    identifiers: Vec<Identifier>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Identifier {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

impl DatasetHead {
    /// The DataSet manifest name dk records as a `DK_DATASET` symlink.
    pub fn alias(&self) -> Option<&str> {
        let symlinks = self.facets.symlinks.as_ref()?;
        symlinks
            .identifiers
            .iter()
            .find(|identifier| identifier.kind == DK_DATASET)
            .map(|identifier| identifier.name.as_str())
    }
}

/// Tags as `(field, tag)`, the field empty for a dataset's own.
pub type Tags = Vec<(String, String)>;

/// A dataset's `tags` facet, read apart from [`EventHead`] (only the store's tag index needs it)
/// and kept as JSON, so that a malformed one from outside leaves the event readable.
#[derive(Deserialize)]
struct TaggedDataset {
    namespace: String,
    name: String,
    #[serde(default)]
    facets: TagsFacet,
}

#[derive(Default, Deserialize)]
struct TagsFacet {
    #[serde(default)]
    tags: Option<Value>,
}

#[derive(Deserialize)]
struct TaggedEvent {
    #[serde(default)]
    job: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    dataset: Option<TaggedDataset>,
    #[serde(default)]
    inputs: Vec<TaggedDataset>,
    #[serde(default)]
    outputs: Vec<TaggedDataset>,
}

/// The tags an event's `tags` facets give its datasets: `(namespace, name, tags)` for each
/// dataset with the facet.
pub fn dataset_tags(json: &str) -> Vec<(String, String, Tags)> {
    // Most events carry none: a search of the text costs less than a parse.
    if !json.contains("\"tags\"") {
        return Vec::new();
    }
    let Ok(event) = serde_json::from_str::<TaggedEvent>(json) else {
        return Vec::new();
    };
    // The datasets of the event's kind, as `Received::parse_storable` reads it (whose names it
    // checked): a RunEvent's or JobEvent's inputs and outputs, a DatasetEvent's dataset.
    let datasets = match event.job {
        Some(_) => event.inputs.into_iter().chain(event.outputs).collect(),
        None => Vec::from_iter(event.dataset),
    };
    datasets
        .into_iter()
        .filter_map(|d| {
            let tags = facet_tags(d.facets.tags.as_ref()?)?;
            Some((d.namespace, d.name, tags))
        })
        .collect()
}

/// The tags of a `tags` facet as `(field, tag)`, the field empty for the dataset's own. A tag
/// is named `key`, or `key:value` unless the value is empty or `true` (`pii` on a field,
/// `classification:confidential`).
pub fn facet_tags(facet: &Value) -> Option<Tags> {
    let entries = facet.get("tags")?.as_array()?;
    Some(entries.iter().filter_map(tag_of).take(MAX_TAGS).collect())
}

/// The most tags of one dataset the store indexes (the rest stay in the event): each is a row
/// of the tag index and of every PII flow through the dataset.
pub const MAX_TAGS: usize = 256;

/// A tag's key, value and field longer than [`MAX_TAG`] are not indexed.
fn tag_of(entry: &Value) -> Option<(String, String)> {
    let short = |text: &&str| text.len() <= MAX_TAG;
    let key = entry.get("key")?.as_str().filter(short)?;
    let value = entry.get("value").and_then(Value::as_str).unwrap_or("");
    let field = entry.get("field").and_then(Value::as_str).unwrap_or("");
    if value.len() > MAX_TAG || field.len() > MAX_TAG {
        return None;
    }
    let name = match value {
        "" | "true" => key.to_owned(),
        _ => format!("{key}:{value}"),
    };
    Some((field.to_owned(), name))
}

/// The deepest nesting of objects and arrays an event received from outside may have. dk's own
/// events are 6 deep; JSON parsers (serde_json included) give up at 128, so an event nested
/// deeper would be stored and then read back as nothing.
pub const MAX_EVENT_DEPTH: usize = 64;

/// The longest namespace (in bytes) an event from outside may name. Namespaces are a source's
/// address (`postgres://host:5432`, `s3://bucket`) or a team's name. PostgreSQL refuses an
/// index entry over 2,704 bytes (and one refused entry fails its whole transaction); a job's
/// input or output is an entry of two namespaces and two names, so 2 x (256 + [`MAX_NAME`])
/// must fit. (Marquez itself stops at 1,024.)
pub const MAX_NAMESPACE: usize = 256;
/// The longest job or dataset name (or DataSet name), in bytes: S3 keys stop at 1,024 too.
/// Names are indexed and searched, so one of megabytes would cost every search and bloat every
/// index; see [`MAX_NAMESPACE`] for what PostgreSQL's index entries leave.
pub const MAX_NAME: usize = 1024;
/// The longest tag key, value or field (a column's name), in bytes: a tag is indexed with its
/// dataset's namespace and name.
pub const MAX_TAG: usize = 256;
/// The longest `eventTime`, in bytes: RFC 3339 allows any number of fraction digits, and the
/// time is part of the event key, which is indexed.
pub const MAX_TIME: usize = 64;

/// Why an event from outside cannot be stored as it is.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event is nested {depth} levels deep; at most {MAX_EVENT_DEPTH} are accepted")]
    TooDeep { depth: usize },
    #[error("not an OpenLineage RunEvent: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error(
        "not an OpenLineage 2-0-2 event: a RunEvent has `run` and `job`, a DatasetEvent `dataset`, a JobEvent `job`"
    )]
    Unknown,
    #[error("the event contains a NUL character (\\u0000), which no store can keep in text")]
    Nul,
    #[error("eventTime `{time}` is not an RFC 3339 time ({reason})")]
    Time { time: String, reason: String },
    #[error("the event has two members named `{name}` in one object")]
    DuplicateMember { name: String },
    #[error(
        "the {what} `{start}...` is {length} bytes long; at most {max} are accepted (shorten it in the producer)"
    )]
    NameTooLong {
        what: &'static str,
        /// The first characters of the name, to say which one.
        start: String,
        length: usize,
        max: usize,
    },
}

/// How deeply objects and arrays nest in `json`, without parsing it: a counter over the bytes,
/// so that a hostile depth costs no stack.
fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for byte in json.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            (false, _, _) => {}
        }
    }
    deepest
}

impl EventHead {
    pub fn parse(json: &str) -> serde_json::Result<EventHead> {
        serde_json::from_str(json)
    }

    /// Parses an event received from outside, accepting only what can be stored and given back
    /// unchanged: nesting at most [`MAX_EVENT_DEPTH`] deep, numbers that are finite as 64-bit
    /// floats (`1e999999` is not), and an `eventTime` in RFC 3339.
    pub fn parse_storable(json: &str) -> Result<EventHead, EventError> {
        let depth = nesting_depth(json);
        if depth > MAX_EVENT_DEPTH {
            return Err(EventError::TooDeep { depth });
        }
        // A full parse, not only the head: it is what refuses numbers out of range anywhere in
        // the facets.
        let value: Value = serde_json::from_str(json)?;
        let head = EventHead::deserialize(&value)?;
        if let Err(err) = DateTime::parse_from_rfc3339(&head.event_time) {
            return Err(EventError::Time {
                time: head.event_time,
                reason: err.to_string(),
            });
        }
        Ok(head)
    }

    /// The same key as [`RunEvent::key`].
    pub fn key(&self) -> String {
        event_key(self.run.run_id, self.event_type, &self.event_time)
    }
}

/// Whether a JSON text has the escape `\u0000` (raw NUL bytes are not valid JSON): PostgreSQL
/// keeps neither text nor `jsonb` with one, so an event holding it would fail the transaction
/// that stores it. `\\u0000` (an escaped backslash, then `u0000`) is text, not a NUL.
fn has_nul(json: &str) -> bool {
    json.match_indices("u0000").any(|(at, _)| {
        let backslashes = json[..at].bytes().rev().take_while(|&b| b == b'\\').count();
        backslashes % 2 == 1
    })
}

fn event_key(run: Uuid, event_type: EventType, time: &str) -> String {
    format!("{run}:{}:{time}", event_type.as_str())
}

/// An event received from outside, of any of the three kinds of OpenLineage 2-0-2, with its
/// idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `<runId>:<eventType>:<eventTime>` for a RunEvent with a type, as for dk's own events;
    /// `<runId>:sha256:<digest>` for one without; `sha256:<digest>` for a DatasetEvent or a
    /// JobEvent. The digest is of the event's [canonical JSON](canonical_json), so a re-sent
    /// event is stored once and two different events are never taken for one another.
    pub key: String,
    pub kind: ReceivedKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceivedKind {
    /// A RunEvent. One without `eventType` has `typed: false` and counts as OTHER: it adds to
    /// the run without changing its state.
    Run { head: EventHead, typed: bool },
    Dataset {
        event_time: String,
        dataset: DatasetHead,
    },
    Job {
        event_time: String,
        job: JobHead,
        inputs: Vec<DatasetHead>,
        outputs: Vec<DatasetHead>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticHead {
    event_time: String,
    #[serde(default)]
    job: Option<JobHead>,
    #[serde(default)]
    dataset: Option<DatasetHead>,
    #[serde(default)]
    inputs: Vec<DatasetHead>,
    #[serde(default)]
    outputs: Vec<DatasetHead>,
}

/// A JSON text checked whole without being built: its syntax, and every number finite as a
/// 64-bit float (serde_json refuses `1e999999` when it parses a number, which `IgnoredAny`
/// skips without doing); for an object, whether it has `eventType` and `run` members.
enum Checked {
    Object { event_type: bool, run: bool },
    Other,
}

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked::Other)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked::Other)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked::Other)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let (mut event_type, mut run) = (false, false);
        while let Some(key) = map.next_key::<MemberName>()? {
            map.next_value::<Checked>()?;
            event_type |= key.0 == "eventType";
            run |= key.0 == "run";
        }
        Ok(Checked::Object { event_type, run })
    }
}

/// A member's name, borrowed from the text unless it holds escapes.
struct MemberName<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> serde::de::Visitor<'de> for Name {
            type Value = MemberName<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(name.into()))
            }
            fn visit_str<E>(self, name: &str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(name.to_owned().into()))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

impl Received {
    /// Parses an event received from outside with the checks of [`EventHead::parse_storable`]:
    /// a RunEvent (with or without `eventType`), a DatasetEvent or a JobEvent.
    pub fn parse_storable(json: &str) -> Result<Received, EventError> {
        let depth = nesting_depth(json);
        if depth > MAX_EVENT_DEPTH {
            return Err(EventError::TooDeep { depth });
        }
        if has_nul(json) {
            return Err(EventError::Nul);
        }
        // The whole text is checked without building it (a tree of maps was ~40% of the
        // server's CPU per POST); a RunEvent with a type, what every client sends, is then read
        // straight from the text.
        let Checked::Object { event_type, run } = serde_json::from_str(json)? else {
            return Err(EventError::Unknown);
        };
        if event_type {
            let head: EventHead = serde_json::from_str(json)?;
            return Received::checked_time(Received {
                key: head.key(),
                kind: ReceivedKind::Run { head, typed: true },
            });
        }
        let mut value: Value = serde_json::from_str(json)?;
        // Only a RunEvent has a type: one without `run` is a RunEvent missing it, not a JobEvent.
        let received = if run {
            let digest = digest(&canonical_json(json)?);
            if let Some(object) = value.as_object_mut() {
                object.insert("eventType".into(), Value::String("OTHER".into()));
            }
            let head = EventHead::deserialize(&value)?;
            Received {
                key: format!("{}:sha256:{digest}", head.run.run_id),
                kind: ReceivedKind::Run { head, typed: false },
            }
        } else {
            let head = StaticHead::deserialize(&value)?;
            let key = format!("sha256:{}", digest(&canonical_json(json)?));
            let kind = match (head.dataset, head.job) {
                (Some(dataset), None) => ReceivedKind::Dataset {
                    event_time: head.event_time,
                    dataset,
                },
                (None, Some(job)) => ReceivedKind::Job {
                    event_time: head.event_time,
                    job,
                    inputs: head.inputs,
                    outputs: head.outputs,
                },
                _ => return Err(EventError::Unknown),
            };
            Received { key, kind }
        };
        Received::checked_time(received)
    }

    fn checked_time(received: Received) -> Result<Received, EventError> {
        let time = received.event_time();
        if time.len() > MAX_TIME {
            return Err(EventError::Time {
                time: time.chars().take(40).collect(),
                reason: format!("{} bytes long; at most {MAX_TIME} are accepted", time.len()),
            });
        }
        if let Err(err) = DateTime::parse_from_rfc3339(time) {
            return Err(EventError::Time {
                time: time.to_owned(),
                reason: err.to_string(),
            });
        }
        received.check_name_lengths()?;
        Ok(received)
    }

    /// Refuses a namespace over [`MAX_NAMESPACE`] bytes, or a job or dataset name (or DataSet
    /// name) over [`MAX_NAME`]: the names the store indexes.
    fn check_name_lengths(&self) -> Result<(), EventError> {
        let (job, inputs, outputs) = match &self.kind {
            ReceivedKind::Run { head, .. } => {
                (Some(&head.job), &head.inputs[..], &head.outputs[..])
            }
            ReceivedKind::Dataset { dataset, .. } => (None, std::slice::from_ref(dataset), &[][..]),
            ReceivedKind::Job {
                job,
                inputs,
                outputs,
                ..
            } => (Some(job), &inputs[..], &outputs[..]),
        };
        let jobs = job.map(|job| {
            (
                ["job namespace", "job name"],
                &job.namespace,
                &job.name,
                None,
            )
        });
        let datasets = inputs.iter().chain(outputs).map(|dataset| {
            let labels = ["dataset namespace", "dataset name"];
            (labels, &dataset.namespace, &dataset.name, dataset.alias())
        });
        for ([namespace_label, name_label], namespace, name, alias) in
            jobs.into_iter().chain(datasets)
        {
            let checks = [
                (namespace_label, Some(namespace.as_str()), MAX_NAMESPACE),
                (name_label, Some(name.as_str()), MAX_NAME),
                ("DataSet name", alias, MAX_NAME),
            ];
            for (what, text, max) in checks {
                if let Some(text) = text.filter(|text| text.len() > max) {
                    return Err(EventError::NameTooLong {
                        what,
                        start: text.chars().take(40).collect(),
                        length: text.len(),
                        max,
                    });
                }
            }
        }
        Ok(())
    }

    pub fn event_time(&self) -> &str {
        match &self.kind {
            ReceivedKind::Run { head, .. } => &head.event_time,
            ReceivedKind::Dataset { event_time, .. } | ReceivedKind::Job { event_time, .. } => {
                event_time
            }
        }
    }
}

fn digest(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The canonical form of the JSON text of an event (valid JSON, its depth checked), whose
/// digest keys events that carry no run id and type: object members sorted by name (by code
/// point), no whitespace, strings as serde_json writes them, numbers exactly as written. Two
/// events with the same members and values, however ordered and spaced, have one canonical
/// form; any other difference gives another: `1.0000000000000001` is not `1`, as it would be
/// once read as a float. An object with two members of one name (which readers take
/// differently) has none.
pub fn canonical_json(json: &str) -> Result<String, EventError> {
    let mut canon = Canon { text: json, at: 0 };
    let mut out = String::with_capacity(json.len());
    canon.value(&mut out)?;
    Ok(out)
}

/// A reader of JSON text that writes its canonical form.
struct Canon<'a> {
    text: &'a str,
    at: usize,
}

impl Canon<'_> {
    fn skip_space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn next_is(&mut self, byte: u8) -> bool {
        self.skip_space();
        if self.text.as_bytes().get(self.at) == Some(&byte) {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, byte: u8) -> Result<(), EventError> {
        match self.next_is(byte) {
            true => Ok(()),
            false => Err(EventError::Invalid(serde::de::Error::custom(format!(
                "expected `{}` at byte {}",
                byte as char, self.at
            )))),
        }
    }

    /// A string literal, decoded.
    fn string(&mut self) -> Result<String, EventError> {
        self.skip_space();
        let start = self.at;
        let bytes = self.text.as_bytes();
        let mut end = start + 1;
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        self.at = (end + 1).min(bytes.len());
        Ok(serde_json::from_str(&self.text[start..self.at])?)
    }

    fn value(&mut self, out: &mut String) -> Result<(), EventError> {
        self.skip_space();
        match self.text.as_bytes().get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut members: Vec<(String, String)> = Vec::new();
                if !self.next_is(b'}') {
                    loop {
                        let name = self.string()?;
                        self.expect(b':')?;
                        let mut member = String::new();
                        self.value(&mut member)?;
                        members.push((name, member));
                        if self.next_is(b'}') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
                members.sort_by(|a, b| a.0.cmp(&b.0));
                if let Some(pair) = members.windows(2).find(|pair| pair[0].0 == pair[1].0) {
                    return Err(EventError::DuplicateMember {
                        name: pair[0].0.clone(),
                    });
                }
                out.push('{');
                for (index, (name, member)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(name.clone()).to_string());
                    out.push(':');
                    out.push_str(member);
                }
                out.push('}');
            }
            Some(b'[') => {
                self.at += 1;
                out.push('[');
                if !self.next_is(b']') {
                    loop {
                        self.value(out)?;
                        if self.next_is(b']') {
                            break;
                        }
                        self.expect(b',')?;
                        out.push(',');
                    }
                }
                out.push(']');
            }
            Some(b'"') => {
                let text = self.string()?;
                out.push_str(&Value::String(text).to_string());
            }
            Some(_) => {
                // A number, `true`, `false` or `null`, as written.
                let rest = &self.text[self.at..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return self.expect(b'0');
                }
                out.push_str(&rest[..len]);
                self.at += len;
            }
            None => return self.expect(b'0'),
        }
        Ok(())
    }
}

/// An event time as a fixed-width UTC text (`2026-11-26T10:00:00.000000000Z`), so that times
/// sent with other offsets or precisions compare in time order as text.
pub fn normalized_time(time: &str) -> String {
    DateTime::parse_from_rfc3339(time)
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Nanos, true)
        })
        .unwrap_or_else(|_| time.to_owned())
}

/// Event times as OpenLineage clients write them: RFC 3339, UTC, milliseconds.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new run id: a UUIDv7, time-ordered, as DESIGN §5 asks.
pub fn new_run_id() -> Uuid {
    Uuid::now_v7()
}

/// Wraps a facet body with the fields every facet carries.
fn facet(schema: &str, definition: &str, mut body: Map<String, Value>) -> Value {
    body.insert("_producer".into(), Value::String(producer()));
    body.insert(
        "_schemaURL".into(),
        Value::String(format!(
            "https://openlineage.io/spec/facets/{schema}#/$defs/{definition}"
        )),
    );
    Value::Object(body)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `jobType`: dk runs are integration `DK`, job type `TRANSFORM`.
pub fn job_type(streaming: bool) -> Value {
    let processing = if streaming { "STREAMING" } else { "BATCH" };
    facet(
        "2-0-4/JobTypeJobFacet.json",
        "JobTypeJobFacet",
        object(json!({"processingType": processing, "integration": "DK", "jobType": "TRANSFORM"})),
    )
}

/// `ownership` of a job or a dataset.
pub fn ownership(owner: &str, dataset: bool) -> Value {
    let (schema, definition) = if dataset {
        ("1-0-1/OwnershipDatasetFacet.json", "OwnershipDatasetFacet")
    } else {
        ("1-0-1/OwnershipJobFacet.json", "OwnershipJobFacet")
    };
    facet(
        schema,
        definition,
        object(json!({"owners": [{"name": owner, "type": "OWNER"}]})),
    )
}

/// `documentation` of a job.
pub fn documentation(description: &str) -> Value {
    facet(
        "1-1-0/DocumentationJobFacet.json",
        "DocumentationJobFacet",
        object(json!({"description": description, "contentType": "text/plain"})),
    )
}

/// `sourceCodeLocation`: the git repository and revision a job's code came from.
pub fn source_code_location(
    repo_url: &str,
    path: Option<&str>,
    version: Option<&str>,
    branch: Option<&str>,
) -> Value {
    let mut body = object(json!({"type": "git", "url": repo_url, "repoUrl": repo_url}));
    for (key, value) in [("path", path), ("version", version), ("branch", branch)] {
        if let Some(value) = value {
            body.insert(key.into(), Value::String(value.to_owned()));
        }
    }
    facet(
        "1-1-0/SourceCodeLocationJobFacet.json",
        "SourceCodeLocationJobFacet",
        body,
    )
}

/// A schema field as the `schema` facet lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaField {
    pub name: String,
    pub field_type: String,
    pub description: Option<String>,
}

/// `schema` of a dataset.
pub fn schema(fields: &[SchemaField]) -> Value {
    let fields: Vec<Value> = fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let mut entry = object(json!({"name": field.name, "type": field.field_type, "ordinal_position": index + 1}));
            if let Some(description) = &field.description {
                entry.insert("description".into(), Value::String(description.clone()));
            }
            Value::Object(entry)
        })
        .collect();
    facet(
        "1-2-0/SchemaDatasetFacet.json",
        "SchemaDatasetFacet",
        object(json!({"fields": fields})),
    )
}

/// `dataSource`: the store a dataset lives in.
pub fn data_source(name: &str, uri: &str) -> Value {
    facet(
        "1-0-1/DatasourceDatasetFacet.json",
        "DatasourceDatasetFacet",
        object(json!({"name": name, "uri": uri})),
    )
}

/// A tag of a dataset, or of one of its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
    pub field: Option<String>,
}

/// `tags`: classification, PII per field, and the dataset's own tags.
pub fn tags(tags: &[Tag]) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .map(|tag| {
            let mut entry = object(json!({"key": tag.key, "value": tag.value, "source": "DK"}));
            if let Some(field) = &tag.field {
                entry.insert("field".into(), Value::String(field.clone()));
            }
            Value::Object(entry)
        })
        .collect();
    facet(
        "1-0-0/TagsDatasetFacet.json",
        "TagsDatasetFacet",
        object(json!({"tags": tags})),
    )
}

/// Where one output field comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSource {
    pub namespace: String,
    pub name: String,
    pub field: String,
    /// The masking applied on the way (`hash`, `aggregate`, ...), if any.
    pub masking: Option<String>,
}

/// `columnLineage`: output field → the input fields it derives from.
pub fn column_lineage(fields: &[(String, Vec<FieldSource>)]) -> Value {
    let mut map = Map::new();
    for (field, sources) in fields {
        let inputs: Vec<Value> = sources
            .iter()
            .map(|source| {
                let transformation = match source.masking.as_deref() {
                    None => json!({"type": "DIRECT", "subtype": "IDENTITY", "masking": false}),
                    Some("aggregate") => json!({"type": "DIRECT", "subtype": "AGGREGATION", "description": "aggregate", "masking": true}),
                    Some(masking) => json!({"type": "DIRECT", "subtype": "TRANSFORMATION", "description": masking, "masking": true}),
                };
                json!({"namespace": source.namespace, "name": source.name, "field": source.field, "transformations": [transformation]})
            })
            .collect();
        map.insert(field.clone(), json!({"inputFields": inputs}));
    }
    facet(
        "1-2-0/ColumnLineageDatasetFacet.json",
        "ColumnLineageDatasetFacet",
        object(json!({"fields": map})),
    )
}

/// `symlinks`: other names of a dataset; dk records the DataSet manifest name, so that
/// `dk lineage NAME` finds datasets by the names people use.
pub fn symlinks(namespace: &str, name: &str) -> Value {
    facet(
        "1-0-1/SymlinksDatasetFacet.json",
        "SymlinksDatasetFacet",
        object(
            json!({"identifiers": [{"namespace": namespace, "name": name, "type": DK_DATASET}]}),
        ),
    )
}

/// `errorMessage` of a failed run.
pub fn error_message(message: &str, language: &str) -> Value {
    facet(
        "1-0-1/ErrorMessageRunFacet.json",
        "ErrorMessageRunFacet",
        object(json!({"message": message, "programmingLanguage": language})),
    )
}

/// `nominalTime` of a scheduled run.
pub fn nominal_time(start: DateTime<Utc>) -> Value {
    facet(
        "1-0-1/NominalTimeRunFacet.json",
        "NominalTimeRunFacet",
        object(json!({"nominalStartTime": format_time(start)})),
    )
}

/// The run that started this one, from `OPENLINEAGE_PARENT_ID=<namespace>/<job>/<runId>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRun {
    pub namespace: String,
    pub job: String,
    pub run_id: Uuid,
}

impl std::str::FromStr for ParentRun {
    type Err = String;

    fn from_str(text: &str) -> Result<ParentRun, String> {
        // The caller shows `text`; each reason names the part that is wrong.
        let shape =
            || "expected <namespace>/<job>/<runId>, three parts separated by `/`".to_owned();
        let (rest, run) = text.rsplit_once('/').ok_or_else(shape)?;
        let (namespace, job) = rest.split_once('/').ok_or_else(shape)?;
        if namespace.is_empty() || job.is_empty() {
            return Err(format!(
                "the {} is empty; {}",
                if namespace.is_empty() {
                    "namespace"
                } else {
                    "job"
                },
                shape()
            ));
        }
        let run_id = Uuid::parse_str(run).map_err(|_| {
            format!(
                "the run id `{run}` (the part after the last `/`) is not a UUID such as 0190f1e2-3a4b-7c5d-8e6f-7a8b9c0d1e2f"
            )
        })?;
        Ok(ParentRun {
            namespace: namespace.to_owned(),
            job: job.to_owned(),
            run_id,
        })
    }
}

impl std::fmt::Display for ParentRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.job, self.run_id)
    }
}

/// `parent` of a run started by an orchestrator.
pub fn parent(parent: &ParentRun) -> Value {
    facet(
        "1-2-0/ParentRunFacet.json",
        "ParentRunFacet",
        object(
            json!({"run": {"runId": parent.run_id}, "job": {"namespace": parent.namespace, "name": parent.job}}),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_parent_id_names_the_part_that_is_wrong() {
        let run = "0190f1e2-3a4b-7c5d-8e6f-7a8b9c0d1e2f";
        let parsed: ParentRun = format!("airflow/dag.task/{run}").parse().unwrap();
        assert_eq!(parsed.job, "dag.task");
        let err = "airflow/dag.task/12345".parse::<ParentRun>().unwrap_err();
        assert!(err.starts_with("the run id `12345` "), "{err}");
        assert!(err.contains("is not a UUID"), "{err}");
        let err = format!("airflow/{run}").parse::<ParentRun>().unwrap_err();
        assert!(
            err.starts_with("expected <namespace>/<job>/<runId>"),
            "{err}"
        );
        let err = format!("/job/{run}").parse::<ParentRun>().unwrap_err();
        assert!(err.starts_with("the namespace is empty"), "{err}");
        assert!(!err.contains(run), "the caller shows the text: {err}");
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert_eq!(nesting_depth(r#"{"a":[{"b":"[[{{\"]]"}]}"#), 3);
        assert_eq!(nesting_depth("[]"), 1);
        assert_eq!(nesting_depth("1"), 0);
    }

    #[test]
    fn canonical_json_ignores_order_and_spacing_only() {
        let a = canonical_json(r#"{"b": [1, {"y": 2, "x": "\u00e9"}], "a": null}"#).unwrap();
        let b = canonical_json(r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#).unwrap();
        assert_eq!(a, r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#);
        assert_eq!(a, b);
        let c = canonical_json(r#"{"a":null,"b":[{"x":"é","y":2},1]}"#).unwrap();
        assert_ne!(a, c);
        assert_eq!(canonical_json("[]").unwrap(), "[]");
        assert_eq!(
            canonical_json(r#" {"a" : { } , "b":[ true,false ]} "#).unwrap(),
            r#"{"a":{},"b":[true,false]}"#
        );
    }

    /// Attacker review: the canonical form read numbers as floats, so `1.0000000000000001` and
    /// `1` (or `1e400` and any other huge number) gave one key and the second event was dropped
    /// as a duplicate of the first; and of two members of one name it kept the last, which
    /// another reader may not.
    #[test]
    fn different_events_never_share_a_canonical_form() {
        let pairs = [
            (r#"{"n":1}"#, r#"{"n":1.0000000000000001}"#),
            (r#"{"n":1e400}"#, r#"{"n":2e400}"#),
            (r#"{"n":9007199254740993}"#, r#"{"n":9007199254740992}"#),
            (r#"{"s":"a\u0000"}"#, r#"{"s":"a"}"#),
        ];
        for (a, b) in pairs {
            assert_ne!(
                canonical_json(a).unwrap(),
                canonical_json(b).unwrap(),
                "{a} {b}"
            );
        }
        assert!(matches!(
            canonical_json(r#"{"a":1,"b":{"x":1,"x":2}}"#),
            Err(EventError::DuplicateMember { name }) if name == "x"
        ));
        let event = |n: &str| {
            format!(
                r#"{{"eventTime":"2026-11-26T10:00:00Z","producer":"p","schemaURL":"s","dataset":{{"namespace":"n","name":"d","facets":{{"x":{{"n":{n}}}}}}}}}"#
            )
        };
        assert_ne!(
            Received::parse_storable(&event("1")).unwrap().key,
            Received::parse_storable(&event("1.0000000000000001"))
                .unwrap()
                .key
        );
    }

    #[test]
    fn every_kind_of_event_is_received_with_its_key() {
        let base = r#""eventTime":"2026-11-26T10:00:00Z","producer":"p","schemaURL":"s""#;
        let run = r#""run":{"runId":"01a22e4e-0000-7000-8000-000000000001"},"job":{"namespace":"n","name":"j"}"#;
        let typed =
            Received::parse_storable(&format!(r#"{{"eventType":"START",{run},{base}}}"#)).unwrap();
        assert_eq!(
            typed.key,
            "01a22e4e-0000-7000-8000-000000000001:START:2026-11-26T10:00:00Z"
        );
        let untyped = Received::parse_storable(&format!(r#"{{{run},{base}}}"#)).unwrap();
        assert!(matches!(
            untyped.kind,
            ReceivedKind::Run { typed: false, .. }
        ));
        assert!(
            untyped
                .key
                .starts_with("01a22e4e-0000-7000-8000-000000000001:sha256:")
        );
        let dataset = format!(r#"{{"dataset":{{"namespace":"n","name":"d"}},{base}}}"#);
        let job = format!(r#"{{"job":{{"namespace":"n","name":"d"}},{base}}}"#);
        let (dataset, job) = (
            Received::parse_storable(&dataset).unwrap(),
            Received::parse_storable(&job).unwrap(),
        );
        assert!(matches!(dataset.kind, ReceivedKind::Dataset { .. }));
        assert!(matches!(job.kind, ReceivedKind::Job { .. }));
        assert!(dataset.key.starts_with("sha256:"));
        assert_ne!(dataset.key, job.key);
        let both = format!(
            r#"{{"dataset":{{"namespace":"n","name":"d"}},"job":{{"namespace":"n","name":"d"}},{base}}}"#
        );
        assert!(matches!(
            Received::parse_storable(&both),
            Err(EventError::Unknown)
        ));
        assert!(Received::parse_storable(r#"{"hello":1}"#).is_err());
        let runless =
            format!(r#"{{"eventType":"START","job":{{"namespace":"n","name":"j"}},{base}}}"#);
        assert!(matches!(
            Received::parse_storable(&runless),
            Err(EventError::Invalid(_))
        ));
    }

    #[test]
    fn times_are_normalised_to_utc() {
        assert_eq!(
            normalized_time("2026-11-26T12:00:00.5+02:00"),
            "2026-11-26T10:00:00.500000000Z"
        );
    }

    #[test]
    fn parent_ids_parse_and_print() {
        let id = "airflow/dag.task/0192f5c2-1a2b-7c3d-8e4f-000000000001";
        let parent: ParentRun = id.parse().unwrap();
        assert_eq!(parent.job, "dag.task");
        assert_eq!(parent.to_string(), id);
        assert!("a/b".parse::<ParentRun>().is_err());
        assert!("a/b/not-a-uuid".parse::<ParentRun>().is_err());
    }

    #[test]
    fn run_ids_are_uuid_v7() {
        assert_eq!(new_run_id().get_version_num(), 7);
    }

    /// A RunEvent with a type is read from the text without building it as a tree: the same head
    /// as read from the tree, and the same refusals anywhere in the text.
    #[test]
    fn a_typed_run_event_is_read_from_its_text_with_every_check_of_the_tree() {
        let json = json!({
            "eventType": "START", "eventTime": "2026-11-26T10:00:00Z",
            "run": {"runId": new_run_id(), "facets": {"x": {"n": [1, 2.5, {"s": "ESC"}]}}},
            "job": {"namespace": "n", "name": "j"}, "inputs": [{"namespace": "n", "name": "d"}],
            "producer": "p", "schemaURL": "s",
        })
        .to_string()
        .replace("ESC", r"\u00e9");
        let received = Received::parse_storable(&json).unwrap();
        let tree: Value = serde_json::from_str(&json).unwrap();
        let head = EventHead::deserialize(&tree).unwrap();
        assert_eq!(received.key, head.key());
        assert_eq!(received.kind, ReceivedKind::Run { head, typed: true });
        for bad in [
            json.replace("2.5", "1e999999"),
            json.replace(r"\u00e9", r"\ud800"),
            format!("{json} x"),
        ] {
            assert!(Received::parse_storable(&bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Received::parse_storable("[1, 2]"),
            Err(EventError::Unknown)
        ));
    }
}
