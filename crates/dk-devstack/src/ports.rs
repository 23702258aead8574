//! Who holds a port: what `lsof -i :PORT` would say, from `/proc` (Linux).

use std::path::Path;

/// A process listening on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub command: String,
}

/// The socket inodes listening on `port` (IPv4 and IPv6).
fn listening_inodes(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if *state == "0A" && local_port == Some(port) {
                inodes.push((*inode).to_owned());
            }
        }
    }
    inodes
}

/// The process listening on the loopback `port`, when it can be seen (another user's process
/// may not be).
pub fn owner(port: u16) -> Option<Owner> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                inodes
                    .iter()
                    .any(|inode| target == format!("socket:[{inode}]"))
            })
        });
        if holds {
            let command =
                std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("comm"))
                    .map(|comm| comm.trim().to_owned())
                    .unwrap_or_default();
            return Some(Owner { pid, command });
        }
    }
    None
}

/// "port 9092 is in use by java (pid 4242)", or as much of it as is known.
pub fn describe_owner(port: u16) -> String {
    match owner(port) {
        Some(owner) => format!(
            "port {port} is in use by {} (pid {})",
            owner.command, owner.pid
        ),
        None => format!("port {port} is in use by another process"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_a_listening_port_is_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let owner = owner(port).expect("an owner");
        assert_eq!(owner.pid, std::process::id());
        drop(listener);
        // Another test of this process may take the freed port at once: an owner is then only
        // right if the port really is in use again.
        if self::owner(port).is_some() {
            assert!(
                std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
                "port {port} is free, yet reported as owned"
            );
        }
    }
}
