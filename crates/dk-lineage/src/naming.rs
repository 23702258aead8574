//! Dataset identities after the OpenLineage naming conventions.
//!
//! | Store | Namespace | Name |
//! |---|---|---|
//! | postgres | `postgres://{host}:{port}` | `{database}.{schema}.{table}` |
//! | s3 | `s3://{bucket}` | key prefix |
//! | kafka | `kafka://{host}:{port}` (first bootstrap server) | topic |
//! | file | `file` | absolute path |
//! | sqlite | `sqlite://{absolute path}` | table |
//! | duckdb | `duckdb://{absolute path}` | `{database}.{schema}.{table}`, the database being the file's stem |
//! | other connectors | `{type}://{store name}` | locator |
//!
//! OpenLineage names no convention for SQLite and DuckDB files; dk follows the database pattern
//! (the file is the instance, the table the name). For DuckDB the name is what openlineage-dbt
//! emits for the same table (DuckDB calls a file's catalog by its stem, `main` is the default
//! schema), so dk's events and dbt-ol's nested ones describe one graph.

use serde_json::{Map, Value};

/// Where a dataset is, for lineage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub namespace: String,
    pub name: String,
}

fn text(connection: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match connection.get(*key)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Array(items) => items
            .first()
            .and_then(|item| item.as_str())
            .map(str::to_owned),
        _ => None,
    })
}

/// The first `host:port` of a Kafka bootstrap list (`a:9092,b:9092` or a YAML list).
fn first_server(connection: &Map<String, Value>) -> String {
    text(
        connection,
        &[
            "bootstrap-servers",
            "bootstrap_servers",
            "brokers",
            "servers",
        ],
    )
    .and_then(|servers| servers.split(',').next().map(|s| s.trim().to_owned()))
    .unwrap_or_else(|| "localhost:9092".to_owned())
}

/// Joins a store root and a relative locator into one absolute path.
fn join(root: &str, locator: &str) -> String {
    let root = root.trim_end_matches('/');
    let locator = locator.trim_start_matches("./").trim_start_matches('/');
    if locator.is_empty() {
        root.to_owned()
    } else {
        format!("{root}/{locator}")
    }
}

/// The identity of the dataset `locator` in a store. File paths in `connection` must already be
/// absolute.
pub fn identity(
    store_type: &str,
    store_name: &str,
    connection: &Map<String, Value>,
    locator: &str,
) -> Identity {
    let (namespace, name) = match store_type {
        "postgres" | "postgresql" => {
            let host = text(connection, &["host"]).unwrap_or_else(|| "localhost".to_owned());
            let port = text(connection, &["port"]).unwrap_or_else(|| "5432".to_owned());
            let database =
                text(connection, &["database", "dbname"]).unwrap_or_else(|| "postgres".to_owned());
            let table = if locator.contains('.') {
                locator.to_owned()
            } else {
                format!("public.{locator}")
            };
            (
                format!("postgres://{host}:{port}"),
                format!("{database}.{table}"),
            )
        }
        "s3" => {
            let bucket = text(connection, &["bucket"]).unwrap_or_default();
            (
                format!("s3://{bucket}"),
                locator.trim_start_matches('/').to_owned(),
            )
        }
        "kafka" => (
            format!("kafka://{}", first_server(connection)),
            locator.to_owned(),
        ),
        "file" => {
            let root = text(connection, &["path"]).unwrap_or_default();
            ("file".to_owned(), join(&root, locator))
        }
        "sqlite" => {
            let path = text(connection, &["path", "database"]).unwrap_or_default();
            (format!("sqlite://{path}"), locator.to_owned())
        }
        "duckdb" => {
            let path = text(connection, &["path", "database"]).unwrap_or_default();
            let database = std::path::Path::new(&path)
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_else(|| "memory".into());
            let name = match locator.split('.').count() {
                1 => format!("{database}.main.{locator}"),
                2 => format!("{database}.{locator}"),
                _ => locator.to_owned(),
            };
            (format!("duckdb://{path}"), name)
        }
        other => (format!("{other}://{store_name}"), locator.to_owned()),
    };
    Identity { namespace, name }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn connection(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn duckdb_tables_are_named_as_openlineage_dbt_names_them() {
        let file = connection(json!({"path": "/work/shop/data/shop.duckdb"}));
        for (locator, name) in [
            ("main.customers", "shop.main.customers"),
            ("customers", "shop.main.customers"),
            ("other.main.customers", "other.main.customers"),
        ] {
            let id = identity("duckdb", "wh", &file, locator);
            assert_eq!(id.namespace, "duckdb:///work/shop/data/shop.duckdb");
            assert_eq!(id.name, name);
        }
    }

    #[test]
    fn follows_the_openlineage_conventions() {
        let pg = identity(
            "postgres",
            "wh",
            &connection(json!({"host": "db", "port": 5433, "database": "shop"})),
            "sales.orders",
        );
        assert_eq!(
            (pg.namespace.as_str(), pg.name.as_str()),
            ("postgres://db:5433", "shop.sales.orders")
        );
        let pg = identity(
            "postgres",
            "wh",
            &connection(json!({"host": "db", "database": "shop"})),
            "orders",
        );
        assert_eq!(pg.name, "shop.public.orders");
        let s3 = identity(
            "s3",
            "lake",
            &connection(json!({"bucket": "events"})),
            "/raw/2024/",
        );
        assert_eq!(
            (s3.namespace.as_str(), s3.name.as_str()),
            ("s3://events", "raw/2024/")
        );
        let kafka = identity(
            "kafka",
            "bus",
            &connection(json!({"bootstrap-servers": "k1:9092,k2:9092"})),
            "orders",
        );
        assert_eq!(kafka.namespace, "kafka://k1:9092");
        let file = identity(
            "file",
            "local",
            &connection(json!({"path": "/srv/pkg/data/"})),
            "input/a.csv",
        );
        assert_eq!(
            (file.namespace.as_str(), file.name.as_str()),
            ("file", "/srv/pkg/data/input/a.csv")
        );
        let sqlite = identity(
            "sqlite",
            "db",
            &connection(json!({"path": "/srv/pkg/data/x.sqlite"})),
            "items",
        );
        assert_eq!(sqlite.namespace, "sqlite:///srv/pkg/data/x.sqlite");
        let custom = identity("test", "synthetic", &Map::new(), "test_some_table");
        assert_eq!(custom.namespace, "test://synthetic");
    }
}
