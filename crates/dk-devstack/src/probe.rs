//! Health checks: a TCP connection, or an HTTP GET answered with a status below 500.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::catalog::{Ports, Service};
use crate::status::{Health, ServiceStatus};

const TIMEOUT: Duration = Duration::from_millis(500);

fn connect(port: u16) -> Option<TcpStream> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, TIMEOUT).ok()
}

/// Whether something accepts connections on the loopback port.
pub fn listening(port: u16) -> bool {
    connect(port).is_some()
}

/// The status code of `GET path` on the loopback port, if anything answers HTTP there.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = connect(port)?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Whether a service of the stack answers as it should: PostgreSQL and Kafka accept
/// connections, S3 answers HTTP, the lineage server (dk's or Marquez) lists namespaces.
pub fn answers(ports: &Ports, service: Service) -> bool {
    let port = ports.main(service);
    match service {
        Service::Postgres | Service::Kafka => listening(port),
        Service::S3 => http_status(port, "/").is_some(),
        Service::Lineage => http_status(port, "/api/v1/namespaces") == Some(200),
    }
}

/// A service's status as seen from outside: healthy when it answers, else stopped.
pub fn probe(ports: &Ports, service: Service) -> ServiceStatus {
    ServiceStatus {
        service,
        health: if answers(ports, service) {
            Health::Healthy
        } else {
            Health::Stopped
        },
        ports: ports.of(service),
        endpoint: ports.endpoint(service),
        pid: None,
        detail: None,
    }
}

pub fn probe_all(ports: &Ports) -> Vec<ServiceStatus> {
    Service::ALL
        .iter()
        .map(|&service| probe(ports, service))
        .collect()
}

/// Waits up to `timeout` in all for every service to answer, calling `progress` as each settles;
/// one that does not answer in time is failed, with `hint` on where to look.
pub fn await_healthy(
    ports: &Ports,
    timeout: Duration,
    hint: &str,
    progress: &mut dyn FnMut(&ServiceStatus),
) -> Vec<ServiceStatus> {
    let deadline = Instant::now() + timeout;
    let mut statuses = Vec::new();
    for service in Service::ALL {
        let mut status = probe(ports, service);
        while status.health != Health::Healthy && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            status = probe(ports, service);
        }
        if status.health != Health::Healthy {
            status.health = Health::Failed;
            status.detail = Some(format!("did not answer in time; {hint}"));
        }
        progress(&status);
        statuses.push(status);
    }
    statuses
}
