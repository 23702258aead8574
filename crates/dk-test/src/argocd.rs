//! A fake Argo CD API server: `GET /api/v1/applications/{name}` as Argo CD documents it (the
//! Application with `status.sync.status` and `status.health.status`), behind a bearer token;
//! unknown applications answer 404 with Argo CD's error body.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::json;

type Apps = Arc<Mutex<BTreeMap<String, (String, String)>>>;

#[derive(Debug)]
pub struct FakeArgoCd {
    port: u16,
    apps: Apps,
}

impl FakeArgoCd {
    /// A server that accepts `token`.
    pub fn start(token: &str) -> FakeArgoCd {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind Argo CD");
        let port = listener.local_addr().expect("address").port();
        let apps: Apps = Arc::default();
        let (shared, token) = (apps.clone(), token.to_owned());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &shared, &token);
            }
        });
        FakeArgoCd { port, apps }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sets an application's sync status (`Synced`, `OutOfSync`) and health (`Healthy`, …).
    pub fn set(&self, app: &str, sync: &str, health: &str) {
        self.apps
            .lock()
            .unwrap()
            .insert(app.to_owned(), (sync.to_owned(), health.to_owned()));
    }
}

fn answer(mut stream: TcpStream, apps: &Apps, token: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut authorized = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((key, value)) = header.split_once(':')
            && key.eq_ignore_ascii_case("authorization")
        {
            authorized = value.trim() == format!("Bearer {token}");
        }
    }
    let name = path
        .strip_prefix("/api/v1/applications/")
        .unwrap_or_default();
    let found = apps.lock().unwrap().get(name).cloned();
    let (status, body) = match (authorized, found) {
        (false, _) => (401, json!({"error": "no session information", "code": 16})),
        (true, None) => (
            404,
            json!({"error": format!("applications.argoproj.io \"{name}\" not found"), "code": 5}),
        ),
        (true, Some((sync, health))) => (
            200,
            json!({"metadata": {"name": name}, "status": {"sync": {"status": sync}, "health": {"status": health}}}),
        ),
    };
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
