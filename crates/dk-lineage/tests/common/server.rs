//! `dk lineage serve`'s server on a free loopback port, for the tests that talk to it.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use dk_lineage::backend::{self, Lineage, Location};
use dk_lineage::server::{DEFAULT_TIMEOUT, ServerConfig, serve};

use super::pg::{Backend, TestDb};

/// A server on a free loopback port, stopped when dropped.
pub struct TestServer {
    pub url: String,
    pub store: Location,
    token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    /// Dropped (the database with it) after the server stops.
    _db: Option<Box<TestDb>>,
}

impl TestServer {
    pub async fn start(token: Option<&str>, max_body: usize) -> TestServer {
        TestServer::start_with(token, max_body, DEFAULT_TIMEOUT).await
    }

    pub async fn start_with(token: Option<&str>, max_body: usize, timeout: Duration) -> TestServer {
        TestServer::start_on(Backend::Sqlite, token, max_body, timeout).await
    }

    /// A server on a store of `backend`: a fresh SQLite file, or a fresh PostgreSQL database.
    pub async fn start_on(
        backend: Backend,
        token: Option<&str>,
        max_body: usize,
        timeout: Duration,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (store, db) = match backend {
            Backend::Sqlite => (Location::Sqlite(dir.path().join("lineage.db")), None),
            Backend::Postgres(db) => (Location::Postgres(Box::new(db.url.clone())), Some(db)),
        };
        TestServer::start_at(store, db, dir, token, max_body, timeout).await
    }

    /// A replica: a server on a store other servers may share.
    pub async fn replica(store: Location) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        TestServer::start_at(store, None, dir, None, 1 << 20, DEFAULT_TIMEOUT).await
    }

    async fn start_at(
        store: Location,
        db: Option<Box<TestDb>>,
        dir: tempfile::TempDir,
        token: Option<&str>,
        max_body: usize,
        timeout: Duration,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let config = ServerConfig {
            store: store.clone(),
            token: token.map(str::to_owned),
            max_body,
            timeout,
        };
        let task = tokio::spawn(async move {
            serve(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            url,
            store,
            token: token.map(str::to_owned),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
            _db: db,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }

    pub async fn post(&self, body: String, token: Option<&str>) -> reqwest::StatusCode {
        self.post_answer(body, token.map(|token| format!("Bearer {token}")))
            .await
            .0
    }

    /// Posts with an `Authorization` header as given; the status and body of the answer.
    pub async fn post_answer(
        &self,
        body: String,
        authorization: Option<String>,
    ) -> (reqwest::StatusCode, String) {
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|value| ("authorization", value))
            .into_iter()
            .collect();
        self.post_with(body.into_bytes(), &headers).await
    }

    /// Posts an event body with these headers besides its content type; the status and body of
    /// the answer.
    pub async fn post_with(
        &self,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (reqwest::StatusCode, String) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/api/v1/lineage", self.url))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// A raw connection to the server, for clients that misbehave.
    pub async fn connect(&self) -> tokio::net::TcpStream {
        tokio::net::TcpStream::connect(self.url.trim_start_matches("http://"))
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// The events in the store, once the server has indexed every event it acknowledged (a
    /// read through the server waits for that; the store file alone shows what is indexed).
    pub async fn stored_events(&self) -> usize {
        let mut read = reqwest::Client::new().get(format!("{}/api/v1/namespaces", self.url));
        if let Some(token) = &self.token {
            read = read.bearer_auth(token);
        }
        let status = read.send().await.unwrap().status();
        assert!(status.is_success(), "GET /api/v1/namespaces: {status}");
        self.with_store(|store| store.event_count().unwrap())
    }

    /// Runs `read` on the server's store, opened on a thread of its own (PostgreSQL's blocking
    /// client cannot run on the test's async threads).
    pub fn with_store<T: Send>(&self, read: impl FnOnce(&mut dyn Lineage) -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| read(backend::open(&self.store).unwrap().as_mut()))
                .join()
                .unwrap()
        })
    }
}
