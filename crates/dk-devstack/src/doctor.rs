//! `dk doctor`'s view of the dev stack: whether what the last `dk dev up` started answers, and
//! who holds the stack's ports.

use std::path::Path;

use dk_config::doctor::Check;

use crate::catalog::{Ports, Service};
use crate::ports::describe_owner;
use crate::probe;
use crate::stack::Runtime;
use crate::status::Health;

/// The stack's ports with the service and the config key of each.
fn ports_of(ports: &Ports) -> [(u16, Service, &'static str); 6] {
    [
        (ports.kafka, Service::Kafka, "dev.services.kafka.port"),
        (ports.s3, Service::S3, "dev.services.s3.port"),
        (ports.s3_console, Service::S3, "dev.services.s3.webPort"),
        (ports.lineage, Service::Lineage, "dev.services.lineage.port"),
        (
            ports.lineage_web,
            Service::Lineage,
            "dev.services.lineage.webPort",
        ),
        (
            ports.postgres,
            Service::Postgres,
            "dev.services.postgres.port",
        ),
    ]
}

/// `dk dev status` as checks, then one check per port of the stack.
pub fn checks(dev_dir: &Path, ports: &Ports) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut serving = Vec::new();
    match Runtime::recorded(dev_dir) {
        None => checks.push(Check::skip(
            "dev stack",
            "no stack started (`dk dev up` starts one)",
        )),
        Some(runtime) => {
            for service in Runtime::started(dev_dir) {
                let status = probe::probe(ports, service);
                let name = format!("dev {}", service.name());
                if status.health == Health::Healthy {
                    serving.push(service);
                    checks.push(Check::ok(
                        name,
                        format!("answers at {} ({})", status.endpoint, runtime.name()),
                    ));
                } else {
                    checks.push(Check::fail(
                        name,
                        format!(
                            "started by `dk dev up --runtime {}` but does not answer at {}",
                            runtime.name(),
                            status.endpoint
                        ),
                        "dk dev up starts what is down; its logs are under $DK_HOME/dev/logs",
                    ));
                }
            }
        }
    }
    for (port, service, key) in ports_of(ports) {
        let name = format!("port {port}");
        if !probe::listening(port) {
            checks.push(Check::ok(name, "free"));
        } else if serving.contains(&service) {
            checks.push(Check::ok(
                name,
                format!("served by the dev stack's {}", service.name()),
            ));
        } else {
            checks.push(Check::warn(
                name,
                format!(
                    "{}, so the dev stack's {} cannot use it",
                    describe_owner(port),
                    service.name()
                ),
                format!("stop that process, or move the service: dk config set {key} PORT"),
            ));
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use dk_config::doctor::Level;

    #[test]
    fn a_port_held_by_another_process_warns_with_its_owner_and_the_key_that_moves_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let held = listener.local_addr().unwrap().port();
        let ports = Ports {
            kafka: held,
            ..Ports::default()
        };
        let dev_dir = tempfile::tempdir().unwrap();
        let checks = checks(dev_dir.path(), &ports);
        assert_eq!(checks[0].name, "dev stack");
        assert_eq!(checks[0].level, Level::Skip);
        let port = checks
            .iter()
            .find(|check| check.name == format!("port {held}"))
            .unwrap();
        assert_eq!(port.level, Level::Warn, "{port:?}");
        assert!(
            port.detail
                .contains(&format!("(pid {})", std::process::id())),
            "{port:?}"
        );
        assert!(
            port.fix
                .as_deref()
                .unwrap()
                .contains("dk config set dev.services.kafka.port"),
            "{port:?}"
        );
    }
}
