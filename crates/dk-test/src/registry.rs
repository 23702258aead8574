//! A registry that lies, on 127.0.0.1: enough of the OCI distribution API (`/v2/`, manifests,
//! blobs, uploads) for `dk publish`, `dk pull` and `dk inspect`, where a test decides what each
//! manifest and blob answers: honest bytes, bytes under another digest, a body far longer than
//! declared, or a tag another publisher overwrites right after a push.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::Digest;

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// What a manifest or blob answers.
#[derive(Debug, Clone)]
pub enum Body {
    /// These bytes (honest when stored under their own digest).
    Bytes(Vec<u8>),
    /// `len` zero bytes streamed in 64 KiB writes without a Content-Length: far more than any
    /// descriptor declares. Generated, never held in memory.
    Endless { len: u64 },
}

#[derive(Debug, Default)]
struct State {
    /// By digest.
    blobs: HashMap<String, Body>,
    /// By `repository:reference` (a tag or a digest).
    manifests: HashMap<String, Body>,
    /// A tag taken over by another publisher as soon as dk pushes it: `repository:tag` to the
    /// manifest the other publisher pushed.
    races: HashMap<String, Vec<u8>>,
    /// `METHOD path` of every request, in order.
    requests: Vec<String>,
}

/// A lying OCI registry on a free loopback port.
#[derive(Debug)]
pub struct LyingRegistry {
    port: u16,
    state: Arc<Mutex<State>>,
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Request> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or("/").to_owned();
    // dk sends every manifest and blob of these tests with a Content-Length.
    let mut length = 0usize;
    for _ in 0..200 {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        if let Some((key, value)) = header.trim_end().split_once(':')
            && key.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request { method, path, body })
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &Body) {
    let mut head = format!("HTTP/1.1 {status} Status\r\nConnection: close\r\n");
    for (key, value) in headers {
        head.push_str(&format!("{key}: {value}\r\n"));
    }
    match body {
        Body::Bytes(bytes) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(bytes));
        }
        Body::Endless { len } => {
            head.push_str("\r\n");
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let chunk = [0u8; 64 << 10];
            let mut left = *len;
            // Until the client hangs up, or `len` bytes went out.
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n as u64;
            }
        }
    }
    let _ = stream.flush();
}

fn handle(mut stream: TcpStream, state: &Mutex<State>, port: u16) {
    let Ok(request) = stream
        .try_clone()
        .and_then(|s| read_request(&mut BufReader::new(s)))
    else {
        return;
    };
    let path = request
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut state = state.lock().expect("registry state");
    state
        .requests
        .push(format!("{} {}", request.method, request.path));
    let empty = Body::Bytes(Vec::new());
    if path == "/v2/" {
        drop(state);
        respond(&mut stream, 200, &[], &empty);
        return;
    }
    let rest = path.strip_prefix("/v2/").unwrap_or_default();
    if let Some((repository, reference)) = rest.rsplit_once("/manifests/") {
        let key = format!("{repository}:{reference}");
        match request.method.as_str() {
            "PUT" => {
                let digest = sha256(&request.body);
                let manifest = Body::Bytes(request.body);
                state
                    .manifests
                    .insert(format!("{repository}:{digest}"), manifest.clone());
                let won = match state.races.remove(&key) {
                    Some(other) => {
                        state.manifests.insert(
                            format!("{repository}:{}", sha256(&other)),
                            Body::Bytes(other.clone()),
                        );
                        Body::Bytes(other)
                    }
                    None => manifest,
                };
                state.manifests.insert(key, won);
                drop(state);
                let location = format!("/v2/{repository}/manifests/{digest}");
                respond(
                    &mut stream,
                    201,
                    &[("Location", location), ("Docker-Content-Digest", digest)],
                    &empty,
                );
            }
            method => {
                let found = state.manifests.get(&key).cloned();
                drop(state);
                match found {
                    Some(body) => {
                        let mut headers = vec![(
                            "Content-Type",
                            "application/vnd.oci.image.manifest.v1+json".to_owned(),
                        )];
                        if let Body::Bytes(bytes) = &body {
                            headers.push(("Docker-Content-Digest", sha256(bytes)));
                        }
                        let body = if method == "HEAD" { empty } else { body };
                        respond(&mut stream, 200, &headers, &body);
                    }
                    None => respond(&mut stream, 404, &[], &empty),
                }
            }
        }
        return;
    }
    if let Some((repository, _)) = rest.split_once("/blobs/uploads") {
        // Monolithic uploads: the digest is in the query of the POST or of the PUT after it.
        let digest = request
            .path
            .split_once("digest=")
            .map(|(_, d)| d.split('&').next().unwrap_or_default().replace("%3A", ":"));
        match digest {
            Some(digest) if request.method == "PUT" || !request.body.is_empty() => {
                state
                    .blobs
                    .insert(digest.clone(), Body::Bytes(request.body));
                drop(state);
                let location = format!("/v2/{repository}/blobs/{digest}");
                respond(
                    &mut stream,
                    201,
                    &[("Location", location), ("Docker-Content-Digest", digest)],
                    &empty,
                );
            }
            _ => {
                drop(state);
                let location =
                    format!("http://127.0.0.1:{port}/v2/{repository}/blobs/uploads/upload-1");
                respond(&mut stream, 202, &[("Location", location)], &empty);
            }
        }
        return;
    }
    if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
        let found = state.blobs.get(digest).cloned();
        drop(state);
        match found {
            Some(_) if request.method == "HEAD" => respond(&mut stream, 200, &[], &empty),
            Some(body) => respond(&mut stream, 200, &[], &body),
            None => respond(&mut stream, 404, &[], &empty),
        }
        return;
    }
    drop(state);
    respond(&mut stream, 404, &[], &empty);
}

impl LyingRegistry {
    /// Starts the registry; it serves until the test process ends, each connection on its own
    /// thread so that an endless body does not hold up the next request.
    pub fn start() -> LyingRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the registry");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || handle(stream, &state, port));
            }
        });
        LyingRegistry { port, state }
    }

    /// `127.0.0.1:<port>`, as `--registry` takes it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("registry state")
    }

    /// Stores an honest blob; returns its digest.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        self.state()
            .blobs
            .insert(digest.clone(), Body::Bytes(bytes.to_vec()));
        digest
    }

    /// Answers `digest` with `body`, whatever it holds.
    pub fn blob_as(&self, digest: &str, body: Body) {
        self.state().blobs.insert(digest.to_owned(), body);
    }

    /// Answers `repository:reference` with `body`.
    pub fn manifest_as(&self, repository: &str, reference: &str, body: Body) {
        self.state()
            .manifests
            .insert(format!("{repository}:{reference}"), body);
    }

    /// Stores an honest manifest under `tag` (and its digest); returns its digest.
    pub fn manifest(&self, repository: &str, tag: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        self.manifest_as(repository, &digest, Body::Bytes(bytes.to_vec()));
        self.manifest_as(repository, tag, Body::Bytes(bytes.to_vec()));
        digest
    }

    /// Another publisher pushes `other` to `repository:tag` right after dk does.
    pub fn race(&self, repository: &str, tag: &str, other: &[u8]) {
        self.state()
            .races
            .insert(format!("{repository}:{tag}"), other.to_vec());
    }

    /// `METHOD path` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }
}

/// One entry of a crafted archive layer: names and link targets are written raw, as an
/// attacker would, past the checks of the tar crate's own builder.
#[derive(Debug, Clone)]
pub enum Crafted {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    HardLink(String, String),
}

/// The chain: `l0 -> .`, `l1 -> l0/..`, ... `l15 -> l14/..`; each looks inside when read
/// alone, together they reach `/`.
pub fn link_chain() -> Vec<Crafted> {
    let mut entries = vec![Crafted::Symlink("l0".into(), ".".into())];
    for i in 1..16 {
        entries.push(Crafted::Symlink(format!("l{i}"), format!("l{}/..", i - 1)));
    }
    entries
}

fn raw_name(field: &mut [u8; 100], name: &str) {
    let bytes = name.as_bytes();
    let n = bytes.len().min(100);
    *field = [0; 100];
    field[..n].copy_from_slice(&bytes[..n]);
}

/// A gzip-compressed tar layer of `entries`.
pub fn layer(entries: &[Crafted]) -> Vec<u8> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gzip);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        let (name, link, kind, data): (&str, Option<&str>, _, &[u8]) = match entry {
            Crafted::File(name, data) => (name, None, tar::EntryType::Regular, data),
            Crafted::Dir(name) => (name, None, tar::EntryType::Directory, &[]),
            Crafted::Symlink(name, to) => (name, Some(to), tar::EntryType::Symlink, &[]),
            Crafted::HardLink(name, to) => (name, Some(to), tar::EntryType::Link, &[]),
        };
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        let gnu = header.as_gnu_mut().expect("a GNU header");
        raw_name(&mut gnu.name, name);
        if let Some(link) = link {
            raw_name(&mut gnu.linkname, link);
        }
        header.set_cksum();
        tar.append(&header, data)
            .expect("append to a tar in memory");
    }
    tar.into_inner()
        .and_then(|gzip| gzip.finish())
        .expect("finish a layer in memory")
}

/// A layer of one file of `len` zero bytes: a few KiB per MiB compressed.
pub fn gzip_bomb(len: u64) -> Vec<u8> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(len);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, "zeros.csv", std::io::repeat(0).take(len))
        .expect("append to a tar in memory");
    tar.into_inner()
        .and_then(|gzip| gzip.finish())
        .expect("finish a layer in memory")
}

/// An OCI image manifest of a dk package artifact with these layers (digest, size).
pub fn manifest_json(config: (&str, usize), layers: &[(String, usize)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(digest, size)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": size,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.infoblox.dk.package.v1",
        "config": {
            "mediaType": "application/vnd.infoblox.dk.config.v1+json",
            "digest": config.0,
            "size": config.1,
        },
        "layers": layers,
    }))
    .expect("JSON")
}

/// A config blob of a package named `name`.
pub fn config_json(name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "datakit.infoblox.dev/v1alpha1",
        "kind": "Transform",
        "name": name,
        "namespace": "default",
        "version": "v1.0.0",
        "transform": {},
    }))
    .expect("JSON")
}

impl LyingRegistry {
    /// Stores an honest artifact of `layers` under `repository:tag`; returns the manifest.
    pub fn artifact(&self, repository: &str, tag: &str, layers: &[Vec<u8>]) -> Vec<u8> {
        let config = config_json(repository.rsplit('/').next().unwrap_or(repository));
        let config_digest = self.blob(&config);
        let layers: Vec<(String, usize)> = layers
            .iter()
            .map(|layer| (self.blob(layer), layer.len()))
            .collect();
        let manifest = manifest_json((&config_digest, config.len()), &layers);
        self.manifest(repository, tag, &manifest);
        manifest
    }
}
