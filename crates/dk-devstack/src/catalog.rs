//! The services of the stack, their ports and the credentials scaffolds use.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::status::StackError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Postgres,
    S3,
    Kafka,
    Lineage,
}

impl Service {
    /// In start order: Kafka keeps its log in S3; lineage comes last.
    pub const ALL: [Service; 4] = [
        Service::Postgres,
        Service::S3,
        Service::Kafka,
        Service::Lineage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::S3 => "s3",
            Service::Kafka => "kafka",
            Service::Lineage => "lineage",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|service| service.name() == name)
    }
}

/// The stack's database and its owner, as the FAQ's stack has them.
pub const POSTGRES_DATABASE: &str = "datakit";
pub const POSTGRES_USER: &str = "dkuser";
pub const POSTGRES_PASSWORD: &str = "dkpassword";
/// MinIO's default credentials, so the same stores work with the compose runtime.
pub const S3_ACCESS_KEY: &str = "minioadmin";
pub const S3_SECRET_KEY: &str = "minioadmin";
/// Buckets created on `up`: the scaffolds' lake, and the Kafka broker's log.
pub const BUCKETS: [&str; 2] = ["lake", "kafka-log"];
/// Topics created on `up` for the scaffolds.
pub const TOPICS: [&str; 1] = ["events"];

/// Every port of the stack; each is configurable (`dev.services.<name>.port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ports {
    pub postgres: u16,
    pub s3: u16,
    pub s3_console: u16,
    pub kafka: u16,
    pub lineage: u16,
    pub lineage_web: u16,
}

impl Default for Ports {
    /// The FAQ's ports.
    fn default() -> Ports {
        Ports {
            postgres: 5432,
            s3: 9000,
            s3_console: 9001,
            kafka: 9092,
            lineage: 5000,
            lineage_web: 3000,
        }
    }
}

/// A `dev.services.<service>.port|webPort` setting that is no port.
#[derive(Debug, thiserror::Error)]
#[error("{key} is {value}, not a port")]
pub struct BadPort {
    pub key: String,
    pub value: String,
    pub default: u16,
}

impl Ports {
    /// The ports `dev.services.<service>.port|webPort` set, the FAQ's for the others.
    pub fn configured(config: &dk_config::Config) -> Result<Ports, BadPort> {
        let defaults = Ports::default();
        let port = |service: &str, key: &str, default: u16| {
            let key = format!("dev.services.{service}.{key}");
            let Ok(Some(setting)) = config.get(&key) else {
                return Ok(default);
            };
            setting
                .value
                .as_u64()
                .and_then(|port| u16::try_from(port).ok())
                .filter(|port| *port > 0)
                .ok_or_else(|| BadPort {
                    value: setting.value.to_string(),
                    key,
                    default,
                })
        };
        Ok(Ports {
            postgres: port("postgres", "port", defaults.postgres)?,
            s3: port("s3", "port", defaults.s3)?,
            s3_console: port("s3", "webPort", defaults.s3_console)?,
            kafka: port("kafka", "port", defaults.kafka)?,
            lineage: port("lineage", "port", defaults.lineage)?,
            lineage_web: port("lineage", "webPort", defaults.lineage_web)?,
        })
    }

    /// The port a service answers its health check on.
    pub fn main(&self, service: Service) -> u16 {
        match service {
            Service::Postgres => self.postgres,
            Service::S3 => self.s3,
            Service::Kafka => self.kafka,
            Service::Lineage => self.lineage,
        }
    }

    /// The ports a service is known by.
    pub fn of(&self, service: Service) -> Vec<u16> {
        match service {
            Service::S3 => vec![self.s3, self.s3_console],
            Service::Lineage => vec![self.lineage, self.lineage_web],
            other => vec![self.main(other)],
        }
    }

    /// The connector type and connection of a store standing for `service` (`spec.dev.stack`):
    /// the scaffolds' `warehouse` (postgres), `lake` (s3) and `events` (kafka).
    pub fn store(&self, service: Service) -> Option<(&'static str, Map<String, Value>)> {
        let connection = match service {
            Service::Postgres => json!({
                "host": "127.0.0.1",
                "port": self.postgres,
                "database": POSTGRES_DATABASE,
                "user": POSTGRES_USER,
                "password": POSTGRES_PASSWORD,
            }),
            Service::S3 => json!({
                "bucket": BUCKETS[0],
                "endpoint": self.endpoint(Service::S3),
                "region": "us-east-1",
                "access_key_id": S3_ACCESS_KEY,
                "secret_access_key": S3_SECRET_KEY,
            }),
            Service::Kafka => json!({"bootstrap-servers": self.endpoint(Service::Kafka)}),
            Service::Lineage => return None,
        };
        match connection {
            Value::Object(connection) => Some((service.name(), connection)),
            _ => None,
        }
    }

    /// How a client reaches a service.
    pub fn endpoint(&self, service: Service) -> String {
        match service {
            Service::Postgres => format!(
                "postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{}/{POSTGRES_DATABASE}",
                self.postgres
            ),
            Service::S3 => format!("http://127.0.0.1:{}", self.s3),
            Service::Kafka => format!("127.0.0.1:{}", self.kafka),
            Service::Lineage => format!("http://127.0.0.1:{}", self.lineage),
        }
    }
}

/// The images the container runtimes run: chart name (the key of `dev.charts.<name>`), image,
/// pinned tag.
pub const IMAGES: [(&str, &str, &str); 6] = [
    (
        "redpanda",
        "docker.redpanda.com/redpandadata/redpanda",
        "v24.2.7",
    ),
    (
        "minio",
        "quay.io/minio/minio",
        "RELEASE.2024-10-13T13-34-11Z",
    ),
    ("mc", "quay.io/minio/mc", "RELEASE.2024-10-08T09-37-26Z"),
    ("postgres", "postgres", "16.4"),
    ("marquez", "marquezproject/marquez", "0.50.0"),
    ("marquez-web", "marquezproject/marquez-web", "0.50.0"),
];

/// The image and tag of a chart: the pinned one, or `dev.charts.<name>.version` from `versions`.
pub fn pinned_image<'a>(
    chart: &str,
    versions: &'a BTreeMap<String, String>,
) -> (&'static str, &'a str) {
    let (_, image, tag) = IMAGES
        .iter()
        .find(|(name, _, _)| *name == chart)
        .expect("a chart of the catalogue");
    (image, versions.get(chart).map_or(*tag, String::as_str))
}

/// A service the user adds to the stack (`dev.charts.<name>` with a name that is no built-in
/// chart): an image the compose runtime runs, a Helm chart the k3d runtime installs. dk does not
/// probe it: it knows none of its ports.
pub use dk_config::CustomChart as CustomService;

/// The image the compose runtime runs for a custom service: its `version` replaces the tag.
pub fn custom_image(service: &CustomService) -> Option<String> {
    let image = service.image.as_deref()?;
    let Some(version) = &service.version else {
        return Some(image.to_owned());
    };
    let repository = match image.rsplit_once(':') {
        // A colon after the last slash starts a tag; before it, a registry's port.
        Some((repository, tag)) if !tag.contains('/') => repository,
        _ => image,
    };
    Some(format!("{repository}:{version}"))
}

/// Refuses custom services a runtime cannot run: a name that cannot be a compose service and a
/// Helm release (a DNS label of at most 53, no name of the stack's own), or no `key` (`image`
/// for compose, `chart` for k3d).
pub(crate) fn check_custom(custom: &[CustomService], key: &str) -> Result<(), StackError> {
    for service in custom {
        let name = &service.name;
        let refused = |message: String| StackError::Custom {
            name: name.clone(),
            message,
        };
        let dns_label = name.len() <= 53
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ours = IMAGES.iter().any(|(chart, _, _)| chart == name) || name == "minio-buckets";
        if !dns_label || ours {
            return Err(refused(
                "use lowercase letters, digits and `-` (at most 53), and no name of the stack's own"
                    .into(),
            ));
        }
        let set = match key {
            "image" => service.image.is_some(),
            _ => service.chart.is_some(),
        };
        if !set {
            return Err(refused(format!(
                "this runtime needs dev.charts.{name}.{key}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_key_table_names_the_catalogue() {
        let services: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(services, dk_config::keys::DEV_SERVICES);
        let charts: Vec<&str> = IMAGES.iter().map(|(chart, _, _)| *chart).collect();
        assert_eq!(charts, dk_config::keys::DEV_CHARTS);
        for (chart, _) in crate::k3d::CHARTS {
            assert!(charts.contains(&chart), "{chart}");
        }
    }

    #[test]
    fn a_custom_service_version_replaces_the_image_tag() {
        let service = |image: &str, version: Option<&str>| CustomService {
            name: "mailpit".into(),
            image: Some(image.into()),
            chart: None,
            version: version.map(str::to_owned),
            values: None,
        };
        assert_eq!(
            custom_image(&service("axllent/mailpit:v1", Some("v2"))).unwrap(),
            "axllent/mailpit:v2"
        );
        assert_eq!(
            custom_image(&service("localhost:5000/mailpit", Some("v2"))).unwrap(),
            "localhost:5000/mailpit:v2"
        );
        assert_eq!(custom_image(&service("mailpit", None)).unwrap(), "mailpit");
        assert!(check_custom(&[service("mailpit", None)], "image").is_ok());
        let err = check_custom(&[service("mailpit", None)], "chart").unwrap_err();
        assert_eq!(
            err.to_string(),
            "custom service `mailpit`: this runtime needs dev.charts.mailpit.chart"
        );
        for name in ["Mail", "mail_pit", "minio-buckets", "redpanda", "-x"] {
            let mut bad = service("x", None);
            bad.name = name.into();
            assert!(check_custom(&[bad], "image").is_err(), "{name}");
        }
    }
}
