//! The manifest kinds of DataKit, as typed serde models.
//!
//! Structural rules that can produce several findings (DNS names, semver, cron, ...) are not
//! enforced here but by `dk-validate`, so one mistake never hides the next. Only what must be
//! known to build the model at all (required fields, closed sets of values) fails a load.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The only `apiVersion` dk reads and writes.
pub const API_VERSION: &str = "datakit.infoblox.dev/v1alpha1";

/// A value outside a closed set, with the allowed names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`, expected one of: {}", allowed.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub allowed: &'static [&'static str],
}

/// Declares an enum written as a fixed set of strings, with its names, parsing and serde in one
/// place so the YAML spelling is stated once.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(value: &str) -> Result<Self, UnknownName> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { what: $what, value: value.to_owned(), allowed: Self::NAMES }),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": $name::NAMES })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct NameVisitor;
                impl serde::de::Visitor<'_> for NameVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "one of {}", $name::NAMES.join(", "))
                    }
                    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<$name, E> {
                        value.parse().map_err(|_| E::unknown_variant(value, $name::NAMES))
                    }
                }
                deserializer.deserialize_str(NameVisitor)
            }
        }
    };
}

string_enum! {
    /// What a manifest is.
    pub enum Kind ("kind") {
        Transform => "Transform",
        DataSet => "DataSet",
        DataSetGroup => "DataSetGroup",
        Store => "Store",
        Connector => "Connector",
    }
}

impl Kind {
    /// The canonical folder for this kind inside a package or project (`None` for Transform,
    /// which lives in `dk.yaml`).
    pub fn folder(self) -> Option<&'static str> {
        match self {
            Kind::Transform => None,
            Kind::DataSet => Some("dataset"),
            Kind::DataSetGroup => Some("dataset-group"),
            Kind::Store => Some("store"),
            Kind::Connector => Some("connector"),
        }
    }

    /// The plural folder name, also accepted (`datasets/`, `stores/`, ...).
    pub fn plural_folder(self) -> Option<&'static str> {
        match self {
            Kind::Transform => None,
            Kind::DataSet => Some("datasets"),
            Kind::DataSetGroup => Some("dataset-groups"),
            Kind::Store => Some("stores"),
            Kind::Connector => Some("connectors"),
        }
    }
}

string_enum! {
    /// The execution engine of a Transform.
    pub enum Runtime ("runtime") {
        Cloudquery => "cloudquery",
        GenericGo => "generic-go",
        GenericPython => "generic-python",
        Dbt => "dbt",
        /// Any language: runs `spec.command` (in `spec.image` in a container).
        Generic => "generic",
        GenericNode => "generic-node",
        GenericJava => "generic-java",
    }
}

impl Runtime {
    /// dbt runs and CloudQuery syncs are batch jobs by nature; they cannot run as streams.
    pub fn supports_streaming(self) -> bool {
        !matches!(self, Runtime::Dbt | Runtime::Cloudquery)
    }
}

string_enum! {
    /// Whether a Transform runs to completion or keeps running.
    #[derive(Default)]
    pub enum Mode ("mode") {
        #[default]
        Batch => "batch",
        Streaming => "streaming",
    }
}

string_enum! {
    pub enum Format ("format") {
        Parquet => "parquet",
        Json => "json",
        Csv => "csv",
        Avro => "avro",
    }
}

string_enum! {
    /// Sensitivity of a DataSet, lowest to highest (the order is meaningful: `Ord` compares it).
    pub enum Classification ("classification") {
        Public => "public",
        Internal => "internal",
        Confidential => "confidential",
        Restricted => "restricted",
    }
}

string_enum! {
    /// How a field derived from PII is made safe; a masked field no longer carries PII.
    pub enum Masking ("masking") {
        Hash => "hash",
        Redact => "redact",
        Tokenize => "tokenize",
        Aggregate => "aggregate",
    }
}

string_enum! {
    pub enum Capability ("capability") {
        Source => "source",
        Destination => "destination",
    }
}

string_enum! {
    pub enum TriggerPolicy ("trigger policy") {
        Schedule => "schedule",
        OnChange => "on-change",
        Manual => "manual",
        Composite => "composite",
    }
}

string_enum! {
    /// Which of the mutually exclusive fields says where a DataSet's data lives.
    pub enum LocatorKind ("locator") {
        Table => "table",
        Prefix => "prefix",
        Topic => "topic",
        Path => "path",
    }
}

fn default_namespace() -> String {
    "default".to_owned()
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The envelope shared by every kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest<S> {
    pub api_version: String,
    pub kind: Kind,
    pub metadata: Metadata,
    pub spec: S,
}

impl<S> Manifest<S> {
    /// A manifest of `kind` named `name` in the default namespace, as `dk ... create` writes it.
    pub fn new(kind: Kind, name: String, spec: S) -> Manifest<S> {
        Manifest {
            api_version: API_VERSION.to_owned(),
            kind,
            metadata: Metadata {
                name,
                namespace: default_namespace(),
                version: None,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            },
            spec,
        }
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

pub type Transform = Manifest<TransformSpec>;
pub type DataSet = Manifest<DataSetSpec>;
pub type DataSetGroup = Manifest<DataSetGroupSpec>;
pub type Store = Manifest<StoreSpec>;
pub type Connector = Manifest<ConnectorSpec>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformSpec {
    pub runtime: Runtime,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub inputs: Vec<DataSetRef>,
    pub outputs: Vec<DataSetRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default)]
    pub lineage: LineageSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSpec>,
    /// How a dbt package is run (runtime dbt only); boxed, as `build` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbt: Option<Box<DbtSpec>>,
}

string_enum! {
    /// The dbt command `dk run` invokes.
    #[derive(Default)]
    pub enum DbtCommand ("dbt command") {
        /// Seeds, models, snapshots and tests in DAG order, so a fresh copy runs as it is.
        #[default]
        Build => "build",
        /// Models only, for projects whose seeds and tests run elsewhere.
        Run => "run",
    }
}

/// `spec.dbt`: which dbt command runs and on which nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbtSpec {
    #[serde(default)]
    pub command: DbtCommand,
    /// dbt node selection, as `--select` takes it (`staging+ marts.customers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
}

/// How `dk build` bundles the package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildSpec {
    /// Files that look like credentials but are bundled on purpose (gitignore-style globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// The Python the vendored wheels are for (runtime generic-python); boxed, since most
    /// Transforms have none and every loaded manifest would carry its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<Box<PythonTarget>>,
}

/// The interpreter and platform a generic-python package's wheels are downloaded for: those of
/// the image it runs in. Unset fields default to the default runtime image's
/// (`python:3.12-slim-bookworm`: CPython 3.12, glibc 2.36) on the build host's architecture.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PythonTarget {
    /// `MAJOR.MINOR`, e.g. `"3.11"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `x86_64` or `aarch64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// pip platform tags (`manylinux_2_28_x86_64`, `musllinux_1_2_x86_64`), replacing the
    /// manylinux range of the default image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

/// A reference from a Transform to the DataSets it reads or writes: by name, or by labels
/// (`tags`) with an optional semver range on the DataSet's version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSetRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub suspend: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub policy: TriggerPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<TriggerPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Default for LineageSpec {
    fn default() -> Self {
        LineageSpec {
            enabled: true,
            namespace: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSetSpec {
    pub store: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema: Vec<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<DevSpec>,
}

impl DataSetSpec {
    /// Every locator the DataSet sets (a valid DataSet sets exactly one).
    pub fn locators(&self) -> Vec<(LocatorKind, &str)> {
        [
            (LocatorKind::Table, &self.table),
            (LocatorKind::Prefix, &self.prefix),
            (LocatorKind::Topic, &self.topic),
            (LocatorKind::Path, &self.path),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.as_deref().map(|value| (kind, value)))
        .collect()
    }

    pub fn pii_fields(&self) -> impl Iterator<Item = (usize, &Field)> {
        self.schema
            .iter()
            .enumerate()
            .filter(|(_, field)| field.pii)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    pub days: u32,
}

/// A column or field of a DataSet's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub pii: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Column lineage: `dataset.field` this field is derived from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<Masking>,
    /// Whether the field may be null (unset: it may). `dk diff` holds a package to it: an input
    /// that becomes required, or a new required input field, breaks whoever writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
}

impl Field {
    /// Splits `from: dataset.field` at the last dot (dataset names cannot hold dots).
    pub fn source(&self) -> Option<(&str, &str)> {
        self.from.as_deref()?.split_once('.')
    }
}

/// Settings that only apply to local development.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Seed>,
}

/// Sample rows loaded into a DataSet by `dk dev seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Seed {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, SeedProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeedProfile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSetGroupSpec {
    pub store: String,
    pub datasets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreSpec {
    pub connector: String,
    pub connection: serde_json::Map<String, serde_json::Value>,
    /// Values taken from the environment at run time: `password: ${PGPASSWORD}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Local development: the dev stack service this store becomes while `dk dev up` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<StoreDev>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreDev {
    pub stack: StackService,
}

/// A dev stack service a store can stand for: `dk run`, `dk test` and `dk dev seed` use the
/// stack's connection (and built-in connector) instead of the store's own while it answers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StackService {
    Postgres,
    S3,
    Kafka,
}

impl StackService {
    pub const ALL: [StackService; 3] = [
        StackService::Postgres,
        StackService::S3,
        StackService::Kafka,
    ];

    /// The service's name, which is also the type of its built-in connector.
    pub fn name(self) -> &'static str {
        match self {
            StackService::Postgres => "postgres",
            StackService::S3 => "s3",
            StackService::Kafka => "kafka",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSpec {
    #[serde(rename = "type")]
    pub connector_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub capabilities: Vec<Capability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Plugin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// Words that make a connection key a secret in all likelihood (`password`, `api_key`, ...).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "credentials",
];

/// Whether a connection key names a secret: its value belongs in `spec.secrets` as a `${VAR}`
/// reference (DK116), never in clear in a manifest or a values file.
pub fn looks_secret(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| lower.contains(word))
}

/// Whether `name` is a DNS label (RFC 1123): lowercase letters, digits and `-`, starting and
/// ending with a letter or digit, at most 63 characters. Manifest names must be, because they
/// become Kubernetes names, OCI repository paths and lineage job names.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// The nearest DNS label to `name` (lower-cased, other characters turned into `-`, at most 63
/// characters), for "try this instead" hints. May be empty.
pub fn to_dns_label(name: &str) -> String {
    let mut label: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.truncate(63);
    label.trim_matches('-').to_owned()
}

/// Connectors every project has without a manifest.
pub const BUILTIN_CONNECTORS: &[&str] = &["postgres", "s3", "kafka", "file", "sqlite", "duckdb"];

/// The type of a connection value a built-in connector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionValue {
    /// A string (a number is read as its text: `password: 1234`).
    Text,
    /// A TCP port: an integer from 1 to 65535, or a string of such digits.
    Port,
    /// A string, or a list of strings joined with `,` (Kafka brokers).
    TextOrList,
}

impl ConnectionValue {
    /// What the value must be, for messages: "a string", ...
    pub fn describe(self) -> &'static str {
        match self {
            ConnectionValue::Text => "a string",
            ConnectionValue::Port => "a port number (1-65535)",
            ConnectionValue::TextOrList => "a string or a list of strings",
        }
    }

    /// Whether `value` has this type.
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        let port = |text: &str| text.parse::<u16>().is_ok_and(|port| port > 0);
        match (self, value) {
            (ConnectionValue::Text | ConnectionValue::TextOrList, J::String(_) | J::Number(_)) => {
                true
            }
            (ConnectionValue::TextOrList, J::Array(items)) => {
                items.iter().all(|item| item.is_string())
            }
            (ConnectionValue::Port, J::Number(number)) => port(&number.to_string()),
            (ConnectionValue::Port, J::String(text)) => port(text),
            _ => false,
        }
    }
}

/// One `spec.connection` key a built-in connector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionKey {
    pub key: &'static str,
    /// The setting the key gives. Keys that give one setting are spellings of it: the first one
    /// set, in table order, wins (`database` before `dbname`).
    pub setting: &'static str,
    pub value: ConnectionValue,
    /// Without it (in `connection` or `secrets`), the connector has nowhere to read or write.
    pub required: bool,
}

const fn key(key: &'static str, setting: &'static str, value: ConnectionValue) -> ConnectionKey {
    ConnectionKey {
        key,
        setting,
        value,
        required: false,
    }
}

const fn text(name: &'static str) -> ConnectionKey {
    key(name, name, ConnectionValue::Text)
}

const REQUIRED_PATH: ConnectionKey = ConnectionKey {
    required: true,
    ..text("path")
};

/// The connection keys of each built-in connector: what `dk lint` accepts (DK118) and what the
/// runtime contract reads into `DK_STORE_DSN_*` (docs/runtime-contract.md). One table for both,
/// so a key cannot be accepted by one and ignored by the other.
pub const CONNECTION_KEYS: &[(&str, &[ConnectionKey])] = &[
    (
        "postgres",
        &[
            text("host"),
            key("port", "port", ConnectionValue::Port),
            text("database"),
            key("dbname", "database", ConnectionValue::Text),
            text("user"),
            key("username", "user", ConnectionValue::Text),
            text("password"),
            text("sslmode"),
        ],
    ),
    (
        "s3",
        &[
            text("bucket"),
            text("endpoint"),
            text("region"),
            text("access_key_id"),
            key("access-key-id", "access_key_id", ConnectionValue::Text),
            text("secret_access_key"),
            key(
                "secret-access-key",
                "secret_access_key",
                ConnectionValue::Text,
            ),
        ],
    ),
    (
        "kafka",
        &[
            key("bootstrap-servers", "servers", ConnectionValue::TextOrList),
            key("bootstrap_servers", "servers", ConnectionValue::TextOrList),
            key("brokers", "servers", ConnectionValue::TextOrList),
            key("servers", "servers", ConnectionValue::TextOrList),
            key("sasl_username", "user", ConnectionValue::Text),
            key("username", "user", ConnectionValue::Text),
            key("sasl_password", "password", ConnectionValue::Text),
            text("password"),
        ],
    ),
    ("file", &[REQUIRED_PATH]),
    (
        "sqlite",
        &[
            REQUIRED_PATH,
            key("database", "path", ConnectionValue::Text),
        ],
    ),
    (
        "duckdb",
        &[
            REQUIRED_PATH,
            key("database", "path", ConnectionValue::Text),
        ],
    ),
];

/// The connection keys of a built-in connector type (`postgresql` is read as `postgres`);
/// `None` for other types, whose connection only the pipeline reads.
pub fn connection_keys(connector_type: &str) -> Option<&'static [ConnectionKey]> {
    let connector_type = match connector_type {
        "postgresql" => "postgres",
        other => other,
    };
    CONNECTION_KEYS
        .iter()
        .find(|(name, _)| *name == connector_type)
        .map(|(_, keys)| *keys)
}

/// The keys that give `setting` for `connector_type`, in precedence order.
pub fn setting_keys(connector_type: &str, setting: &str) -> Vec<&'static str> {
    connection_keys(connector_type)
        .unwrap_or_default()
        .iter()
        .filter(|key| key.setting == setting)
        .map(|key| key.key)
        .collect()
}

/// The manifest of a built-in connector.
pub fn builtin_connector(name: &str) -> Option<Connector> {
    let name = *BUILTIN_CONNECTORS
        .iter()
        .find(|builtin| **builtin == name)?;
    Some(Manifest {
        api_version: API_VERSION.to_owned(),
        kind: Kind::Connector,
        metadata: Metadata {
            name: name.to_owned(),
            namespace: default_namespace(),
            version: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        },
        spec: ConnectorSpec {
            connector_type: name.to_owned(),
            provider: None,
            capabilities: vec![Capability::Source, Capability::Destination],
            plugin: None,
            version: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_enums_round_trip_their_names() {
        for runtime in Runtime::ALL {
            assert_eq!(runtime.as_str().parse::<Runtime>(), Ok(*runtime));
        }
        let err = "python".parse::<Runtime>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown runtime `python`, expected one of: cloudquery, generic-go, generic-python, dbt, generic, generic-node, generic-java"
        );
        assert!(Classification::Internal < Classification::Confidential);
        assert_eq!(Mode::default(), Mode::Batch);
    }

    #[test]
    fn dns_labels() {
        for good in ["a", "demo", "my-pipeline", "a1", "1a"] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "My-Pipeline", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert_eq!(to_dns_label("My_Pipeline"), "my-pipeline");
        assert_eq!(to_dns_label("__"), "");
    }

    #[test]
    fn every_builtin_connector_declares_its_connection_keys() {
        for name in BUILTIN_CONNECTORS {
            assert!(connection_keys(name).is_some(), "{name}");
        }
        assert_eq!(CONNECTION_KEYS.len(), BUILTIN_CONNECTORS.len());
        assert_eq!(
            setting_keys("postgresql", "database"),
            ["database", "dbname"]
        );
        assert!(connection_keys("oracle").is_none());
    }

    #[test]
    fn connection_value_types() {
        use serde_json::json;
        assert!(ConnectionValue::Port.accepts(&json!(5432)));
        assert!(ConnectionValue::Port.accepts(&json!("5432")));
        assert!(!ConnectionValue::Port.accepts(&json!(0)));
        assert!(!ConnectionValue::Port.accepts(&json!(70000)));
        assert!(!ConnectionValue::Port.accepts(&json!("db")));
        assert!(!ConnectionValue::Text.accepts(&json!([])));
        assert!(!ConnectionValue::Text.accepts(&json!(null)));
        assert!(!ConnectionValue::Text.accepts(&json!({"a": 1})));
        assert!(ConnectionValue::TextOrList.accepts(&json!(["a:9092", "b:9092"])));
        assert!(!ConnectionValue::TextOrList.accepts(&json!([1])));
    }

    #[test]
    fn builtin_connectors_have_both_capabilities() {
        let postgres = builtin_connector("postgres").unwrap();
        assert_eq!(postgres.spec.capabilities.len(), 2);
        assert!(builtin_connector("oracle").is_none());
    }

    #[test]
    fn field_source_splits_dataset_and_field() {
        let field = Field {
            name: "email_hash".into(),
            field_type: "string".into(),
            pii: false,
            description: None,
            from: Some("customers.email".into()),
            masking: Some(Masking::Hash),
            nullable: None,
        };
        assert_eq!(field.source(), Some(("customers", "email")));
    }
}
