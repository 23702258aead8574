//! The runtime contract: what a pipeline is given about its data (DESIGN §4).
//!
//! For every store behind an input or output: `DK_STORE_DSN_<STORE>` and `DK_STORE_TYPE_<STORE>`;
//! for the run: `DK_INPUTS`, `DK_OUTPUTS`, `DK_RUN_ID`, `DK_CONTEXT` (a JSON file describing every
//! dataset) and `OPENLINEAGE_PARENT_ID`.
//!
//! DSN formats:
//!
//! | Store | DSN |
//! |---|---|
//! | postgres | `postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=MODE]` |
//! | s3 | `s3://[ACCESS_KEY_ID:SECRET_ACCESS_KEY@]BUCKET[?endpoint=URL&region=REGION]` |
//! | kafka | `kafka://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]` |
//! | file | `file:///ABSOLUTE/DIRECTORY` |
//! | sqlite, duckdb | `sqlite:///ABSOLUTE/FILE`, `duckdb:///ABSOLUTE/FILE` |
//! | other connectors | `TYPE://STORE` (details in `DK_CONTEXT`) |
//!
//! Relative paths in `file`, `sqlite` and `duckdb` connections resolve against the package.

use std::path::{Path, PathBuf};

use dk_manifest::model::{StackService, setting_keys};
use serde_json::{Map, Value};

/// A missing `${VAR}` is an error naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error(
        "store '{store}': secret `{key}` needs the environment variable {variable}, which is not set"
    )]
    MissingSecret {
        store: String,
        key: String,
        variable: String,
    },
    #[error("store '{store}': secret `{key}` must be a ${{VAR}} reference")]
    NotAReference { store: String, key: String },
}

/// A store ready for a run: its connection with paths made absolute and secrets filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedStore {
    pub name: String,
    pub store_type: String,
    pub connection: Map<String, Value>,
    pub dsn: String,
    /// The DSN without the secrets: what lineage and messages may show.
    pub public_dsn: String,
    /// The secret values in this store, to be hidden wherever the store is shown.
    pub secrets: Vec<String>,
    /// The dev stack service this store stands for in this run (`spec.dev.stack`).
    pub dev_stack: Option<StackService>,
}

/// `local-files` → `LOCAL_FILES`.
pub fn env_suffix(store: &str) -> String {
    store
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

const LOCAL_FILE_STORES: &[&str] = &["file", "sqlite", "duckdb"];

fn absolute(base: &Path, path: &str) -> String {
    let path = Path::new(path);
    // A relative base is taken from the working directory: the pipeline may run elsewhere.
    let joined = std::path::absolute(base.join(path)).unwrap_or_else(|_| base.join(path));
    // Lexically, so a store path that does not exist yet (an output) still resolves.
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean.display().to_string()
}

/// The `${VAR}` a secret refers to.
pub(crate) fn variable(reference: &str) -> Option<&str> {
    reference.strip_prefix("${")?.strip_suffix('}')
}

/// Percent-encodes the userinfo part of a URL.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of `setting` (see [`dk_manifest::model::CONNECTION_KEYS`]) in a connection of
/// `store_type`, from the first of its keys that is set.
fn setting(connection: &Map<String, Value>, store_type: &str, setting: &str) -> Option<String> {
    setting_keys(store_type, setting)
        .into_iter()
        .find_map(|key| match connection.get(key)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        })
}

fn userinfo(user: Option<String>, password: Option<String>) -> String {
    match (user, password) {
        (Some(user), Some(password)) => format!("{}:{}@", encode(&user), encode(&password)),
        (Some(user), None) => format!("{}@", encode(&user)),
        _ => String::new(),
    }
}

fn query(connection: &Map<String, Value>, store_type: &str, settings: &[&str]) -> String {
    let pairs: Vec<String> = settings
        .iter()
        .filter_map(|name| {
            setting(connection, store_type, name).map(|value| format!("{name}={}", encode(&value)))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// The connection string of a store of `store_type`.
/// The settings that authenticate, left out of the public DSN whatever their source. The S3 key
/// id goes too: it names the account, and pairs with a leaked secret.
pub(crate) const CREDENTIAL_SETTINGS: &[&str] = &["password", "access_key_id", "secret_access_key"];

pub fn dsn(store_type: &str, store: &str, connection: &Map<String, Value>) -> String {
    let get = |name| setting(connection, store_type, name);
    match store_type {
        "postgres" | "postgresql" => format!(
            "postgresql://{}{}:{}/{}{}",
            userinfo(get("user"), get("password")),
            get("host").unwrap_or_else(|| "localhost".into()),
            get("port").unwrap_or_else(|| "5432".into()),
            get("database").unwrap_or_else(|| "postgres".into()),
            query(connection, store_type, &["sslmode"]),
        ),
        "s3" => format!(
            "s3://{}{}{}",
            userinfo(get("access_key_id"), get("secret_access_key")),
            get("bucket").unwrap_or_default(),
            query(connection, store_type, &["endpoint", "region"]),
        ),
        "kafka" => format!(
            "kafka://{}{}",
            userinfo(get("user"), get("password")),
            get("servers").unwrap_or_else(|| "localhost:9092".into()),
        ),
        "file" => format!("file://{}", get("path").unwrap_or_default()),
        "sqlite" | "duckdb" => format!("{store_type}://{}", get("path").unwrap_or_default()),
        other => format!("{other}://{store}"),
    }
}

/// Resolves a store's connection for a run: relative paths against `package_dir`, secrets from
/// `lookup` (the environment dk runs in).
pub fn resolve_store(
    name: &str,
    store_type: &str,
    connection: &Map<String, Value>,
    secrets: &std::collections::BTreeMap<String, String>,
    package_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ResolvedStore, ContractError> {
    let mut connection = connection.clone();
    if LOCAL_FILE_STORES.contains(&store_type) {
        for key in setting_keys(store_type, "path") {
            if let Some(Value::String(path)) = connection.get(key) {
                let resolved = absolute(package_dir, path);
                connection.insert(key.to_owned(), Value::String(resolved));
            }
        }
    }
    // Credentials written in clear under `connection` (DK116 warns of them) are still secrets:
    // never in the public DSN that lineage and output carry, always redacted.
    let mut public = connection.clone();
    let mut secret_values = Vec::new();
    for setting in CREDENTIAL_SETTINGS {
        for key in setting_keys(store_type, setting) {
            if let Some(value) = public.remove(key).as_ref().and_then(Value::as_str)
                && !value.is_empty()
            {
                secret_values.push(value.to_owned());
                secret_values.push(encode(value));
            }
        }
    }
    let public_dsn = dsn(store_type, name, &public);
    for (key, reference) in secrets {
        let Some(variable) = variable(reference) else {
            return Err(ContractError::NotAReference {
                store: name.to_owned(),
                key: key.clone(),
            });
        };
        let value = lookup(variable).ok_or_else(|| ContractError::MissingSecret {
            store: name.to_owned(),
            key: key.clone(),
            variable: variable.to_owned(),
        })?;
        if !value.is_empty() {
            secret_values.push(value.clone());
            secret_values.push(encode(&value));
        }
        connection.insert(key.clone(), Value::String(value));
    }
    secret_values.sort_by_key(|value| std::cmp::Reverse(value.len()));
    secret_values.dedup();
    Ok(ResolvedStore {
        name: name.to_owned(),
        store_type: store_type.to_owned(),
        dsn: dsn(store_type, name, &connection),
        public_dsn,
        connection,
        secrets: secret_values,
        dev_stack: None,
    })
}

/// Replaces every secret value in `text` with `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
}

/// Where a dataset is within its store: an absolute path for file stores, `s3://bucket/prefix`,
/// the table, or the topic.
pub fn location(store: &ResolvedStore, locator: &str) -> String {
    match store.store_type.as_str() {
        "file" => {
            let root = setting(&store.connection, "file", "path").unwrap_or_default();
            absolute(Path::new(&root), locator)
        }
        "s3" => format!(
            "s3://{}/{}",
            setting(&store.connection, "s3", "bucket").unwrap_or_default(),
            locator.trim_start_matches('/')
        ),
        _ => locator.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn dsns_for_every_store_type() {
        let pg = map(
            json!({"host": "db", "port": 5433, "database": "shop", "user": "dk", "password": "p@ss word", "sslmode": "require"}),
        );
        assert_eq!(
            dsn("postgres", "wh", &pg),
            "postgresql://dk:p%40ss%20word@db:5433/shop?sslmode=require"
        );
        let s3 = map(
            json!({"bucket": "lake", "endpoint": "http://127.0.0.1:9000", "region": "us-east-1"}),
        );
        assert_eq!(
            dsn("s3", "lake", &s3),
            "s3://lake?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=us-east-1"
        );
        assert_eq!(
            dsn(
                "kafka",
                "bus",
                &map(json!({"brokers": ["k1:9092", "k2:9092"]}))
            ),
            "kafka://k1:9092,k2:9092"
        );
        assert_eq!(
            dsn("file", "f", &map(json!({"path": "/srv/data"}))),
            "file:///srv/data"
        );
        assert_eq!(
            dsn("sqlite", "db", &map(json!({"path": "/srv/x.sqlite"}))),
            "sqlite:///srv/x.sqlite"
        );
        assert_eq!(dsn("test", "synthetic", &Map::new()), "test://synthetic");
        assert_eq!(env_suffix("local-files.v2"), "LOCAL_FILES_V2");
    }

    #[test]
    fn stores_resolve_paths_and_secrets() {
        let lookup = |name: &str| (name == "PGPASSWORD").then(|| "s3cr3t!".to_owned());
        let secrets = BTreeMap::from([("password".to_owned(), "${PGPASSWORD}".to_owned())]);
        let store = resolve_store(
            "wh",
            "postgres",
            &map(json!({"host": "db", "user": "dk"})),
            &secrets,
            Path::new("/pkg"),
            &lookup,
        )
        .unwrap();
        assert_eq!(store.dsn, "postgresql://dk:s3cr3t%21@db:5432/postgres");
        assert_eq!(
            redact(&store.dsn, &store.secrets),
            "postgresql://dk:***@db:5432/postgres"
        );
        assert_eq!(store.public_dsn, "postgresql://dk@db:5432/postgres");
        let inline = resolve_store(
            "wh",
            "postgres",
            &map(json!({"host": "db", "user": "dk", "password": "in-clear"})),
            &BTreeMap::new(),
            Path::new("/pkg"),
            &lookup,
        )
        .unwrap();
        assert_eq!(inline.public_dsn, "postgresql://dk@db:5432/postgres");
        assert_eq!(
            redact(&inline.dsn, &inline.secrets),
            "postgresql://dk:***@db:5432/postgres"
        );
        let missing = BTreeMap::from([("password".to_owned(), "${NOPE}".to_owned())]);
        let err = resolve_store(
            "wh",
            "postgres",
            &Map::new(),
            &missing,
            Path::new("/pkg"),
            &lookup,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "store 'wh': secret `password` needs the environment variable NOPE, which is not set"
        );
        let files = resolve_store(
            "local",
            "file",
            &map(json!({"path": "./data/../data"})),
            &BTreeMap::new(),
            Path::new("/pkg"),
            &lookup,
        )
        .unwrap();
        assert_eq!(files.dsn, "file:///pkg/data");
        assert_eq!(location(&files, "input/a.csv"), "/pkg/data/input/a.csv");
    }
}
