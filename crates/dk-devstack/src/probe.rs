//! Health checks: a TCP connection, or an HTTP GET answered with a status below 500.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::catalog::{Ports, Service};

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
