//! `dk lineage serve`: an OpenLineage endpoint over the local lineage store, with the read API
//! of Marquez so that Marquez clients and tools work against it.
//!
//! Writes go through group commit ([`crate::commit`]): a request is answered once its event is
//! committed, and many concurrent clients cost few transactions. Reads use their own connection
//! (the store is in WAL mode).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Read;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::backend::{Lineage, Location, sharing_events};
use crate::catalog::{
    DatasetRecord, EventQuery, Facets, JobRecord, Name, Page, RunRecord, SearchQuery,
    VersionRecord, version_id,
};
use crate::commit::{GroupCommit, IngestCommitter, NotCommitted, ReceivedEvent};
use crate::event::{Received, facet_tags};
use crate::graph::{Direction, NodeKind};
use crate::inbox::{Indexed, StoreCommitter};
use crate::store::StoreError;
use crate::ui;

/// Marquez's default page size and lineage depth.
const DEFAULT_LIMIT: usize = 100;
const DEFAULT_DEPTH: usize = 20;
/// The largest page any listing answers with: a larger `limit` gets this many (and the total).
const MAX_LIMIT: usize = 1000;
/// The longest search text, in bytes: every name is matched against it.
const MAX_SEARCH: usize = 64;
/// How many of a job's runs `latestRuns` lists, as Marquez does.
const LATEST_RUNS: usize = 10;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A SQLite file, or a PostgreSQL database that other replicas may share.
    pub store: Location,
    /// Required as `Authorization: Bearer <token>` on every request when set.
    pub token: Option<String>,
    /// Larger request bodies are refused with 413.
    pub max_body: usize,
    /// A connection that has not sent a whole request head this long after opening or after
    /// its last answer is closed (idle and slowloris clients), and a request not answered
    /// within it (a body sent too slowly) gets 408.
    pub timeout: Duration,
}

/// [`ServerConfig::timeout`] when nothing else is asked for.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
struct AppState {
    writer: GroupCommit<ReceivedEvent>,
    /// What reads wait on, for a store that indexes after it acknowledges (SQLite).
    indexed: Option<Indexed>,
    reader: Arc<Mutex<Box<dyn Lineage>>>,
    token: Option<Arc<str>>,
    /// The largest event accepted, compressed or not.
    max_body: usize,
}

/// The runtime `dk lineage serve` serves on (and the ingest bench, which measures it): two
/// workers for the connections; commits and reads block on threads of their own.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dk-serve")
        .enable_all()
        .build()
}

/// Serves on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_all(vec![listener], config, shutdown).await
}

/// Serves the same API and UI on every listener (the dev stack's API and web ports) until
/// `shutdown` completes.
pub async fn serve_all(
    listeners: Vec<tokio::net::TcpListener>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Opening a PostgreSQL store blocks (and migrates the schema): off the async threads.
    // SQLite commits through its inbox (see `inbox`); PostgreSQL ingests each batch at once.
    let location = config.store.clone();
    let (writer, write_thread, indexed, reader) = tokio::task::spawn_blocking(move || {
        let ((writer, thread), indexed) = match &location {
            Location::Sqlite(path) => {
                let committer = StoreCommitter::open(path)?;
                let indexed = committer.indexed();
                (GroupCommit::start(committer), Some(indexed))
            }
            Location::Postgres(_) => (
                GroupCommit::start(IngestCommitter(crate::backend::open(&location)?)),
                None,
            ),
        };
        Ok::<_, StoreError>((writer, thread, indexed, crate::backend::open(&location)?))
    })
    .await
    .map_err(|err| StoreError::Database(err.to_string()))??;
    let state = AppState {
        writer,
        indexed,
        reader: Arc::new(Mutex::new(reader)),
        token: config.token.map(Arc::from),
        max_body: config.max_body,
    };
    // A page on any web site can make the browser send requests to 127.0.0.1 through a DNS name
    // that resolves there (DNS rebinding): on loopback, only loopback names are served.
    let loopback = listeners.iter().all(|listener| {
        listener
            .local_addr()
            .is_ok_and(|address| address.ip().is_loopback())
    });
    let api = Router::new()
        .route("/api/v1/lineage", get(lineage_graph).post(record))
        .route("/api/v1/namespaces", get(namespaces))
        .route("/api/v1/namespaces/{namespace}", get(namespace))
        .route("/api/v1/namespaces/{namespace}/jobs", get(jobs))
        .route("/api/v1/namespaces/{namespace}/jobs/{job}", get(job))
        .route(
            "/api/v1/namespaces/{namespace}/jobs/{job}/runs",
            get(job_runs),
        )
        .route("/api/v1/jobs/runs/{id}", get(run))
        .route("/api/v1/namespaces/{namespace}/datasets", get(datasets))
        .route(
            "/api/v1/namespaces/{namespace}/datasets/{dataset}",
            get(dataset),
        )
        .route(
            "/api/v1/namespaces/{namespace}/datasets/{dataset}/versions",
            get(dataset_versions),
        )
        // marquez-python's `list_events` asks for /events; Marquez serves /events/lineage.
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/lineage", get(events))
        .route("/api/v1/column-lineage", get(column_lineage))
        .route("/api/v1/search", get(search))
        .route("/api/v1/sources", get(sources))
        .route("/api/v1/tags", get(tags))
        .route("/api/v1/ui/graph", get(ui_graph))
        .route("/api/v1/ui/governance", get(ui_governance))
        .route("/api/v1/dk/lineage", get(dk_lineage))
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") }),
        )
        .layer(middleware::from_fn_with_state(state.clone(), authorize));
    // The page and its assets hold no data, so they are served without the token: the page
    // asks for it and sends it with every read.
    let app = Router::new()
        .route("/", get(ui_page))
        .route("/governance", get(ui_page))
        .route("/lineage", get(ui_page))
        .route("/lineage/{*rest}", get(ui_page))
        .route("/ui/{asset}", get(ui_asset))
        .merge(api)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::max(config.max_body))
        .layer(middleware::from_fn_with_state(config.timeout, deadline))
        .layer(middleware::from_fn_with_state(loopback, check_host))
        .layer(middleware::from_fn(refuse_cross_site_writes))
        .layer(middleware::from_fn(security_headers))
        .with_state(state);
    let (stop, stopped) = watch::channel(false);
    let mut loops = JoinSet::new();
    for listener in listeners {
        let mut stopped = stopped.clone();
        let app = app.clone();
        loops.spawn(accept_loop(listener, app, config.timeout, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
    }
    shutdown.await;
    let _ = stop.send(true);
    while loops.join_next().await.is_some() {}
    drop(app);
    // The router (and its queue senders) is gone: the writer drains what is left and ends.
    let _ = tokio::task::spawn_blocking(move || write_thread.join()).await;
    Ok(())
}

/// Whether `host` (a Host header: name or address, with an optional port) names this machine.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn check_host(State(loopback): State<bool>, request: Request, next: Next) -> Response {
    if loopback {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|value| value.to_str().unwrap_or(""));
        if let Some(host) = host.filter(|host| !is_loopback_host(host)) {
            return error(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server listens on loopback and answers only to localhost, 127.0.0.1 or [::1], not `{}`",
                    host.chars().take(100).collect::<String>()
                ),
            );
        }
    }
    next.run(request).await
}

/// A web page of another origin can POST to a server on loopback without the user knowing
/// (a `no-cors` fetch with no Content-Type needs no preflight), and no token is set by default.
/// Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); clients that are not
/// browsers (dk, dbt-ol, openlineage-python) send neither, so they are unaffected.
async fn refuse_cross_site_writes(request: Request, next: Next) -> Response {
    if !matches!(request.method(), &Method::GET | &Method::HEAD) {
        let headers = request.headers();
        let text = |name| {
            headers
                .get(name)
                .map(|value: &header::HeaderValue| value.to_str().unwrap_or("?"))
        };
        let fetch_site = text(header::HeaderName::from_static("sec-fetch-site"));
        let origin_host = text(header::ORIGIN).map(|origin| {
            origin
                .split_once("://")
                .map_or(origin, |(_, authority)| authority)
        });
        let cross_site = fetch_site.is_some_and(|site| !matches!(site, "same-origin" | "none"))
            || origin_host.is_some_and(|origin| Some(origin) != text(header::HOST));
        if cross_site {
            return error(
                StatusCode::FORBIDDEN,
                "a web page of another origin cannot write to this server",
            );
        }
    }
    next.run(request).await
}

/// Every answer, data or page, forbids inline script and style, framing and sniffing.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", ui::CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

/// axum answers a request it cannot parse (a missing query parameter, a bad path) in plain
/// text; clients of a JSON API get the JSON error shape instead.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !(plain && response.status().is_client_error()) {
        return response;
    }
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    error(status, String::from_utf8_lossy(&body).into_owned())
}

async fn ui_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        ui::INDEX_HTML,
    )
        .into_response()
}

async fn ui_asset(Path(name): Path<String>) -> Response {
    match ui::asset(&name) {
        Some((kind, bytes)) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no asset {name}")),
    }
}

async fn ui_graph(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    // `expand` repeats (one per dataset drawn with its fields), which a struct cannot take.
    let (mut kind, mut namespace, mut name, mut depth) = (None, None, None, 2);
    let mut expanded = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "kind" => kind = Some(value),
            "namespace" => namespace = Some(value),
            "name" => name = Some(value),
            "depth" => match value.parse() {
                Ok(number) => depth = number,
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("depth `{value}` is not a number"),
                    );
                }
            },
            "expand" => expanded.push(value),
            _ => {}
        }
    }
    let (Some(kind), Some(namespace), Some(name)) = (kind, namespace, name) else {
        return error(
            StatusCode::BAD_REQUEST,
            "kind (job or dataset), namespace and name are required",
        );
    };
    let node_kind = match kind.as_str() {
        "job" => NodeKind::Job,
        "dataset" => NodeKind::Dataset,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("kind `{other}` is neither job nor dataset"),
            );
        }
    };
    let missing = format!("no recorded {kind} {name} in namespace {namespace}");
    answer(&state, missing, move |store| {
        let view = ui::graph_view(store, node_kind, &namespace, &name, depth, &expanded)?;
        Ok(view.map(|view| serde_json::to_value(view).unwrap_or_default()))
    })
    .await
}

/// The most PII flows the governance view lists.
const MAX_FLOWS: usize = 5000;

async fn ui_governance(State(state): State<AppState>) -> Response {
    answer(&state, String::new(), move |store| {
        let flows = store.pii_flows(MAX_FLOWS)?;
        Ok(Some(serde_json::to_value(flows).unwrap_or_default()))
    })
    .await
}

/// Serves connections with hyper directly rather than `axum::serve`, which sets no timer and so
/// keeps a connection that never finishes its request head open forever. hyper's header read
/// timeout also runs while a kept-alive connection waits for its next request, so it closes idle
/// connections too.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stopping, stop_watch) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors or a connection reset before it was accepted: the listener
                // itself is fine, and a pause lets descriptors free up.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stop_watch = stop_watch.clone();
        connections.spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop_watch.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Finished connections are reaped as they go, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stopping.send(true);
    while connections.join_next().await.is_some() {}
}

/// Answers 408 to a request not answered within the timeout: it bounds how long a client can
/// take to send its body.
async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request was not complete within {}s",
                timeout.as_secs_f64()
            ),
        ),
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"code": status.as_u16(), "message": message.into()})),
    )
        .into_response()
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` work too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token);
        if given != Some(token.as_ref()) {
            return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
        }
    }
    next.run(request).await
}

/// The body as sent, or inflated when it came with `Content-Encoding: gzip`: at most
/// `max_body` bytes either way, so a small compressed body cannot become a large one.
fn decoded(
    headers: &HeaderMap,
    body: Bytes,
    max_body: usize,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        // Without a copy: the buffer is hyper's alone by now.
        None | Some("identity") => Ok(body.into()),
        Some("gzip" | "x-gzip") => {
            let mut inflated = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(max_body as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|err| {
                    (
                        StatusCode::BAD_REQUEST,
                        format!("the body is not valid gzip: {err}"),
                    )
                })?;
            if inflated.len() > max_body {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the event is over {max_body} bytes once decompressed"),
                ));
            }
            Ok(inflated)
        }
        Some(other) => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding `{other}` is not supported; send gzip or no encoding"),
        )),
    }
}

/// How far ahead of this server's clock an event may be dated: clocks of clients drift, but a
/// job's latest run is the one with the latest time, so an event dated 9999 would stand for the
/// job for good and hide every real run after it.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Why an event dated `time` is refused, when it is too far ahead of `now`.
fn from_the_future(time: &str, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let time = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    (time > now + CLOCK_SKEW).then(|| {
        format!(
            "eventTime {} is more than {} h ahead of this server's clock ({}); check the sender's clock",
            time.to_rfc3339(),
            CLOCK_SKEW.num_hours(),
            now.format("%Y-%m-%dT%H:%M:%SZ")
        )
    })
}

async fn record(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let json_content = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        // Required, not assumed: a body without one is what a browser sends cross-site with
        // no preflight.
        .is_some_and(|value| value.starts_with("application/json"));
    if !json_content {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the event as application/json",
        );
    }
    let body = match decoded(&headers, body, state.max_body) {
        Ok(body) => body,
        Err((status, message)) => return error(status, message),
    };
    let Ok(json) = String::from_utf8(body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    let event = match Received::parse_storable(&json) {
        Ok(event) => event,
        Err(err) => return error(StatusCode::BAD_REQUEST, err.to_string()),
    };
    if let Some(message) = from_the_future(event.event_time(), chrono::Utc::now()) {
        return error(StatusCode::BAD_REQUEST, message);
    }
    match state.writer.submit((event, json)).await {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(NotCommitted::Failed(message)) => error(StatusCode::INTERNAL_SERVER_ERROR, message),
        Err(NotCommitted::Stopping) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping")
        }
    }
}

/// Runs a read on the read connection, off the async threads.
async fn read<T: Send + 'static>(
    state: &AppState,
    query: impl FnOnce(&dyn Lineage) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    if let Some(indexed) = &state.indexed {
        indexed.caught_up().await;
    }
    let reader = state.reader.clone();
    tokio::task::spawn_blocking(move || {
        let store = reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        query(store.as_ref())
    })
    .await
    .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
    .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

/// A read answered as JSON, or 404 with `missing` when it found nothing.
async fn answer(
    state: &AppState,
    missing: String,
    query: impl FnOnce(&dyn Lineage) -> Result<Option<Value>, StoreError> + Send + 'static,
) -> Response {
    match read(state, query).await {
        Ok(Some(value)) => axum::Json(value).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, missing),
        Err(response) => response,
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct Paging {
    limit: Option<usize>,
    offset: Option<usize>,
}

impl Paging {
    fn limit(self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)
    }

    fn offset(self) -> usize {
        self.offset.unwrap_or(0)
    }
}

/// One page as `{"<key>": [...], "totalCount": n}`.
fn page_json<T>(
    key: &str,
    page: &Page<T>,
    mut render: impl FnMut(&T) -> Result<Value, StoreError>,
) -> Result<Value, StoreError> {
    let items = page
        .items
        .iter()
        .map(&mut render)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ key: items, "totalCount": page.total }))
}

fn namespace_json(ns: &crate::catalog::NamespaceRecord) -> Value {
    json!({
        "name": ns.name,
        "createdAt": ns.created_at,
        "updatedAt": ns.updated_at,
        "ownerName": "dk",
        "description": null,
        "isHidden": false,
    })
}

async fn namespaces(State(state): State<AppState>, Query(paging): Query<Paging>) -> Response {
    answer(&state, String::new(), move |store| {
        let page = store.namespaces(paging.limit(), paging.offset())?;
        page_json("namespaces", &page, |ns| Ok(namespace_json(ns))).map(Some)
    })
    .await
}

async fn namespace(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let missing = format!("no recorded namespace {name}");
    answer(&state, missing, move |store| {
        Ok(store.namespace(&name)?.as_ref().map(namespace_json))
    })
    .await
}

/// A namespace's jobs or datasets, by limit and offset.
type ListQuery<T> = fn(&dyn Lineage, &str, usize, usize) -> Result<Page<T>, StoreError>;
/// A job or a dataset by namespace and name.
type OneQuery<T> = fn(&dyn Lineage, &str, &str) -> Result<Option<T>, StoreError>;
/// A record in Marquez's shape.
type Render<T> = fn(&dyn Lineage, &T) -> Result<Value, StoreError>;

/// One page of a namespace's jobs or datasets, as `{"<key>": [...], "totalCount": n}`.
async fn listing<T: 'static>(
    state: &AppState,
    (namespace, paging): (String, Paging),
    key: &'static str,
    query: ListQuery<T>,
    render: Render<T>,
) -> Response {
    answer(state, String::new(), move |store| {
        let page = query(store, &namespace, paging.limit(), paging.offset())?;
        page_json(key, &page, |item| render(store, item)).map(Some)
    })
    .await
}

/// One job or dataset, or 404 saying which `what` is not recorded.
async fn one<T: 'static>(
    state: &AppState,
    what: &str,
    (namespace, name): (String, String),
    query: OneQuery<T>,
    render: Render<T>,
) -> Response {
    let missing = format!("no recorded {what} {name} in namespace {namespace}");
    answer(state, missing, move |store| {
        query(store, &namespace, &name)?
            .map(|item| render(store, &item))
            .transpose()
    })
    .await
}

async fn jobs(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    let query = (namespace, paging);
    listing(
        &state,
        query,
        "jobs",
        |s, ns, l, o| s.jobs(ns, l, o),
        job_json,
    )
    .await
}

async fn job(State(state): State<AppState>, Path(id): Path<(String, String)>) -> Response {
    one(&state, "job", id, |s, ns, n| s.job(ns, n), job_json).await
}

async fn job_runs(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> Response {
    let missing = format!("no recorded job {name} in namespace {namespace}");
    answer(&state, missing, move |store| {
        if store.job(&namespace, &name)?.is_none() {
            return Ok(None);
        }
        let page = store.job_runs(&namespace, &name, paging.limit(), paging.offset())?;
        page_json("runs", &page, |run| run_json(store, run)).map(Some)
    })
    .await
}

async fn run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let missing = format!("no recorded run {id}");
    answer(&state, missing, move |store| {
        let Some((job, run)) = store.run(&id)? else {
            return Ok(None);
        };
        let mut value = run_json(store, &run)?;
        value["jobVersion"] = json!({
            "namespace": job.namespace,
            "name": job.name,
            "version": version_id(&job.namespace, &job.name, &run.id),
        });
        Ok(Some(value))
    })
    .await
}

async fn datasets(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    let query = (namespace, paging);
    listing(
        &state,
        query,
        "datasets",
        |s, ns, l, o| s.datasets(ns, l, o),
        dataset_json,
    )
    .await
}

async fn dataset(State(state): State<AppState>, Path(id): Path<(String, String)>) -> Response {
    one(
        &state,
        "dataset",
        id,
        |s, ns, n| s.dataset(ns, n),
        dataset_json,
    )
    .await
}

async fn dataset_versions(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> Response {
    let missing = format!("no recorded dataset {name} in namespace {namespace}");
    answer(&state, missing, move |store| {
        let Some(dataset) = store.dataset(&namespace, &name)? else {
            return Ok(None);
        };
        let page = store.dataset_versions(&namespace, &name, paging.limit(), paging.offset())?;
        page_json("versions", &page, |version| {
            version_json(store, &dataset, version)
        })
        .map(Some)
    })
    .await
}

fn names_json(names: &[Name]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"namespace": n.namespace, "name": n.name}))
        .collect()
}

/// Marquez's run states for the OpenLineage event that set them; a run known only from OTHER
/// events (or events without a type) has not started.
fn run_state(event_type: &str) -> &'static str {
    match event_type {
        "COMPLETE" => "COMPLETED",
        "FAIL" => "FAILED",
        "ABORT" => "ABORTED",
        "OTHER" => "NEW",
        _ => "RUNNING",
    }
}

/// A string member of a facet.
fn facet_text<'a>(facets: &'a Facets, facet: &str, member: &str) -> Option<&'a str> {
    facets.get(facet)?.get(member)?.as_str()
}

/// A run in Marquez's `Run` shape, with the facets its events sent.
fn run_json(store: &dyn Lineage, run: &RunRecord) -> Result<Value, StoreError> {
    let time = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let duration = match (time(&run.started_at), time(&run.ended_at)) {
        (Some(start), Some(end)) => Some((end - start).num_milliseconds()),
        _ => None,
    };
    let facets = store.run_facets(&run.id)?;
    Ok(json!({
        "id": run.id,
        "createdAt": run.started_at.as_deref().unwrap_or(&run.updated_at),
        "updatedAt": run.updated_at,
        "nominalStartTime": facet_text(&facets, "nominalTime", "nominalStartTime"),
        "nominalEndTime": facet_text(&facets, "nominalTime", "nominalEndTime"),
        "state": run_state(&run.state),
        "startedAt": run.started_at,
        "endedAt": run.ended_at,
        "durationMs": duration,
        "args": {},
        "facets": facets,
    }))
}

/// A job in Marquez's `Job` shape: description from its `documentation` facet, location from
/// its `sourceCodeLocation` facet.
fn job_json(store: &dyn Lineage, job: &JobRecord) -> Result<Value, StoreError> {
    let facets = store.job_facets(&job.namespace, &job.name)?;
    let latest_runs = store.job_runs(&job.namespace, &job.name, LATEST_RUNS, 0)?;
    let latest_runs = latest_runs
        .items
        .iter()
        .map(|run| run_json(store, run))
        .collect::<Result<Vec<_>, _>>()?;
    let latest_run = job
        .latest_run
        .as_ref()
        .map(|run| run_json(store, run))
        .transpose()?;
    let origin = job
        .latest_run
        .as_ref()
        .map_or(job.updated_at.as_str(), |run| run.id.as_str());
    Ok(json!({
        "id": {"namespace": job.namespace, "name": job.name},
        "type": if job.streaming { "STREAM" } else { "BATCH" },
        "name": job.name,
        "simpleName": job.name,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "namespace": job.namespace,
        "inputs": names_json(&job.inputs),
        "outputs": names_json(&job.outputs),
        "location": facet_text(&facets, "sourceCodeLocation", "url"),
        "description": facet_text(&facets, "documentation", "description"),
        "latestRun": latest_run,
        "latestRuns": latest_runs,
        "currentVersion": version_id(&job.namespace, &job.name, origin),
        "facets": facets,
    }))
}

/// The fields of the `schema` facet, each with the tags the `tags` facet gives it, and the
/// dataset's own tags.
fn fields_and_tags(facets: &Facets) -> (Vec<Value>, Vec<String>) {
    let tags = facets.get("tags").and_then(facet_tags).unwrap_or_default();
    let tags_of = |field: &str| -> Vec<&str> {
        tags.iter()
            .filter(|(of, _)| of == field)
            .map(|(_, tag)| tag.as_str())
            .collect()
    };
    let fields = facets
        .get("schema")
        .and_then(|schema| schema.get("fields"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|field| {
            let name = field.get("name")?.as_str()?;
            Some(json!({
                "name": name,
                "type": field.get("type"),
                "tags": tags_of(name),
                "description": field.get("description"),
            }))
        })
        .collect();
    let own = tags_of("").into_iter().map(str::to_owned).collect();
    (fields, own)
}

/// What a dataset is called in prose: its `documentation` facet, else its DataSet name.
fn dataset_description(facets: &Facets, dataset: &DatasetRecord) -> Option<String> {
    facet_text(facets, "documentation", "description")
        .map(str::to_owned)
        .or_else(|| dataset.alias.clone())
}

/// A dataset in Marquez's `Dataset` shape: fields from its `schema` facet, tags from its `tags`
/// facet, the version its newest run (or DatasetEvent) made.
fn dataset_json(store: &dyn Lineage, dataset: &DatasetRecord) -> Result<Value, StoreError> {
    let facets = store.dataset_facets(&dataset.namespace, &dataset.name)?;
    let (fields, tags) = fields_and_tags(&facets);
    let current = store.dataset_versions(&dataset.namespace, &dataset.name, 1, 0)?;
    Ok(json!({
        "id": {"namespace": dataset.namespace, "name": dataset.name},
        "type": "DB_TABLE",
        "name": dataset.name,
        "physicalName": dataset.name,
        "createdAt": dataset.created_at,
        "updatedAt": dataset.updated_at,
        "namespace": dataset.namespace,
        "sourceName": dataset.namespace,
        "fields": fields,
        "tags": tags,
        "lastModifiedAt": dataset.updated_at,
        "description": dataset_description(&facets, dataset),
        "currentVersion": current.items.first().map(|v| v.version),
        "deleted": false,
        "facets": facets,
    }))
}

/// A version of a dataset in Marquez's `DatasetVersion` shape, with the run that made it.
fn version_json(
    store: &dyn Lineage,
    dataset: &DatasetRecord,
    version: &VersionRecord,
) -> Result<Value, StoreError> {
    let facets = store.version_facets(&dataset.namespace, &dataset.name, version)?;
    let (fields, tags) = fields_and_tags(&facets);
    let run = match &version.run_id {
        Some(id) => store.run(id)?,
        None => None,
    };
    let created_by_run = run.map(|(_, run)| run_json(store, &run)).transpose()?;
    Ok(json!({
        "id": {"namespace": dataset.namespace, "name": dataset.name, "version": version.version},
        "type": "DB_TABLE",
        "name": dataset.name,
        "physicalName": dataset.name,
        "createdAt": version.created_at,
        "version": version.version,
        "namespace": dataset.namespace,
        "sourceName": dataset.namespace,
        "fields": fields,
        "tags": tags,
        "description": dataset_description(&facets, dataset).unwrap_or_default(),
        "createdByRun": created_by_run,
        "facets": facets,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsQuery {
    before: Option<String>,
    after: Option<String>,
    sort_direction: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Stored events, newest first unless `sortDirection=asc`, with `after` ≤ eventTime < `before`.
async fn events(State(state): State<AppState>, Query(query): Query<EventsQuery>) -> Response {
    for time in [&query.before, &query.after].into_iter().flatten() {
        if chrono::DateTime::parse_from_rfc3339(time).is_err() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`{time}` is not an RFC 3339 time (e.g. 2026-11-26T10:00:00Z)"),
            );
        }
    }
    let ascending = match query.sort_direction.as_deref().map(str::to_ascii_lowercase) {
        None => false,
        Some(direction) if direction == "desc" => false,
        Some(direction) if direction == "asc" => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("sortDirection `{other}` is neither asc nor desc"),
            );
        }
    };
    let paging = Paging {
        limit: query.limit,
        offset: query.offset,
    };
    let query = EventQuery {
        before: query.before,
        after: query.after,
        ascending,
        limit: paging.limit(),
        offset: paging.offset(),
    };
    answer(&state, String::new(), move |store| {
        let page = store.events_by_time(&query)?;
        Ok(Some(
            json!({"events": page.items, "totalCount": page.total}),
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: String,
    filter: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    namespace: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

async fn search(State(state): State<AppState>, Query(params): Query<SearchParams>) -> Response {
    // `%` and `_` in q are matched as themselves (see `catalog::like_literal`), so the cost of a
    // search follows the length of q and of the names (capped at ingest).
    if params.q.len() > MAX_SEARCH {
        return error(
            StatusCode::BAD_REQUEST,
            format!("q is at most {MAX_SEARCH} bytes"),
        );
    }
    let kind = match params.filter.as_deref().map(str::to_ascii_lowercase) {
        None => None,
        Some(filter) if filter == "job" => Some(NodeKind::Job),
        Some(filter) if filter == "dataset" => Some(NodeKind::Dataset),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("filter `{other}` is neither dataset nor job"),
            );
        }
    };
    for date in [&params.before, &params.after].into_iter().flatten() {
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`{date}` is not a date YYYY-MM-DD"),
            );
        }
    }
    let query = SearchQuery {
        pattern: params.q,
        kind,
        namespace: params.namespace,
        before: params.before,
        after: params.after,
        by_update: params
            .sort
            .is_some_and(|sort| sort.eq_ignore_ascii_case("updated_at")),
        limit: params.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
    };
    answer(&state, String::new(), move |store| {
        let page = store.search(&query)?;
        let results: Vec<Value> = page
            .items
            .iter()
            .map(|found| {
                json!({
                    "type": match found.kind { NodeKind::Job => "JOB", NodeKind::Dataset => "DATASET" },
                    "name": found.name,
                    "updatedAt": found.updated_at,
                    "namespace": found.namespace,
                    "nodeId": marquez_id(found.kind, &found.namespace, &found.name),
                })
            })
            .collect();
        Ok(Some(json!({"totalCount": page.total, "results": results})))
    })
    .await
}

/// Sources are the namespaces of datasets (`postgres://host:5432`), typed by their scheme.
async fn sources(State(state): State<AppState>, Query(paging): Query<Paging>) -> Response {
    answer(&state, String::new(), move |store| {
        let page = store.sources(paging.limit(), paging.offset())?;
        page_json("sources", &page, |source| {
            let scheme = source
                .name
                .split_once("://")
                .map_or(source.name.as_str(), |(s, _)| s);
            Ok(json!({
                "type": scheme.to_ascii_uppercase(),
                "name": source.name,
                "createdAt": source.created_at,
                "updatedAt": source.updated_at,
                "connectionUrl": source.name,
            }))
        })
        .map(Some)
    })
    .await
}

async fn tags(State(state): State<AppState>, Query(paging): Query<Paging>) -> Response {
    answer(&state, String::new(), move |store| {
        let page = store.tags(paging.limit(), paging.offset())?;
        page_json("tags", &page, |tag| Ok(json!({"name": tag}))).map(Some)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineageQuery {
    node_id: String,
    depth: Option<usize>,
    /// `true` or `false` in any case (marquez-python sends Python's `False`).
    with_downstream: Option<String>,
}

fn marquez_id(kind: NodeKind, namespace: &str, name: &str) -> String {
    crate::graph::node_id(kind, namespace, name)
}

/// The job or dataset a `<namespace>:<name>` id names: as dk writes ids (the name escaped, see
/// [`crate::graph::node_id`]) first, so that each names one node; else, for ids a client built
/// from a name with colons left as they are, each split tried against the store in turn.
fn resolve(
    store: &dyn Lineage,
    kind: NodeKind,
    rest: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let exact = crate::graph::parse_node_id(rest);
    let splits = rest
        .match_indices(':')
        .map(|(index, _)| (rest[..index].to_owned(), rest[index + 1..].to_owned()));
    for (namespace, name) in exact.into_iter().chain(splits) {
        let found = match kind {
            NodeKind::Job => store.job(&namespace, &name)?.is_some(),
            NodeKind::Dataset => store.dataset(&namespace, &name)?.is_some(),
        };
        if found {
            return Ok(Some((namespace, name)));
        }
    }
    Ok(None)
}

/// The graph around a node, in Marquez's `LineageGraph` shape. Node ids are
/// `job:<namespace>:<name>` or `dataset:<namespace>:<name>`.
fn lineage_json(
    store: &dyn Lineage,
    node_id: &str,
    depth: usize,
) -> Result<Option<Value>, StoreError> {
    let (kind, rest) = match node_id.split_once(':') {
        Some(("job", rest)) => (NodeKind::Job, rest),
        Some(("dataset", rest)) => (NodeKind::Dataset, rest),
        _ => return Ok(None),
    };
    let Some((namespace, name)) = resolve(store, kind, rest)? else {
        return Ok(None);
    };
    let Some(neighbourhood) =
        store.neighbourhood_of(kind, &namespace, &name, Direction::Both, depth)?
    else {
        return Ok(None);
    };
    let ids: HashMap<String, String> = neighbourhood
        .nodes
        .iter()
        .map(|(node, _)| {
            (
                node.id(),
                marquez_id(node.kind, &node.namespace, &node.name),
            )
        })
        .collect();
    let edge = |origin: &str, destination: &str| json!({"origin": ids[origin], "destination": ids[destination]});
    let mut graph = Vec::with_capacity(neighbourhood.nodes.len());
    for (node, _) in &neighbourhood.nodes {
        let own = node.id();
        let data = match node.kind {
            NodeKind::Job => store
                .job(&node.namespace, &node.name)?
                .map(|j| job_json(store, &j))
                .transpose()?,
            NodeKind::Dataset => store
                .dataset(&node.namespace, &node.name)?
                .map(|d| dataset_json(store, &d))
                .transpose()?,
        };
        let relevant = |end: fn(&crate::graph::Edge) -> &str| {
            neighbourhood
                .edges
                .iter()
                .filter(|e| end(e) == own && ids.contains_key(&e.from) && ids.contains_key(&e.to))
                .map(|e| edge(&e.from, &e.to))
                .collect::<Vec<_>>()
        };
        graph.push(json!({
            "id": ids[&own],
            "type": match node.kind { NodeKind::Job => "JOB", NodeKind::Dataset => "DATASET" },
            "data": data,
            "inEdges": relevant(|e| &e.to),
            "outEdges": relevant(|e| &e.from),
        }));
    }
    Ok(Some(json!({ "graph": graph })))
}

async fn lineage_graph(
    State(state): State<AppState>,
    Query(query): Query<LineageQuery>,
) -> Response {
    let depth = query.depth.unwrap_or(DEFAULT_DEPTH);
    let node_id = query.node_id.clone();
    let missing = format!(
        "no recorded node {}; ids are job:<namespace>:<name> or dataset:<namespace>:<name>",
        query.node_id
    );
    answer(&state, missing, move |store| {
        sharing_events(store, |store| lineage_json(store, &node_id, depth))
    })
    .await
}

/// A field of a dataset, as a column lineage node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FieldId {
    namespace: String,
    dataset: String,
    field: String,
}

impl FieldId {
    fn id(&self) -> String {
        format!(
            "datasetField:{}:{}:{}",
            self.namespace,
            crate::graph::escape_name(&self.dataset),
            crate::graph::escape_name(&self.field)
        )
    }
}

/// The first transformation of a `columnLineage` input field, as Marquez names it.
fn transformation(input: &Value) -> (Option<&str>, Option<&str>) {
    let first = input.pointer("/transformations/0");
    let text = |member: &str| {
        first
            .and_then(|t| t.get(member))
            .or_else(|| input.get(member))
            .and_then(Value::as_str)
    };
    (
        text("description").or_else(|| text("transformationDescription")),
        text("type").or_else(|| text("transformationType")),
    )
}

/// Column lineage in Marquez's shape: a node per field (`datasetField:<ns>:<dataset>:<field>`)
/// with the input fields the `columnLineage` facets derive it from, over the datasets upstream
/// of the node (and downstream with `withDownstream`) within `depth` jobs.
fn column_lineage_json(
    store: &dyn Lineage,
    node_id: &str,
    depth: usize,
    downstream: bool,
) -> Result<Option<Value>, StoreError> {
    // marquez-python may append `#<version>` (a UUID); dk answers with the current facets. Only
    // that suffix is cut: a namespace may hold a `#` (names have theirs escaped).
    let node_id = match node_id.rsplit_once('#') {
        Some((id, version)) if uuid::Uuid::parse_str(version).is_ok() => id,
        _ => node_id,
    };
    let starts: Vec<(String, String)> = match node_id.split_once(':') {
        Some(("job", rest)) => match resolve(store, NodeKind::Job, rest)? {
            Some((namespace, name)) => store
                .job(&namespace, &name)?
                .map(|job| {
                    job.outputs
                        .into_iter()
                        .map(|n| (n.namespace, n.name))
                        .collect()
                })
                .unwrap_or_default(),
            None => return Ok(None),
        },
        Some(("dataset", rest)) => match resolve(store, NodeKind::Dataset, rest)? {
            Some(found) => vec![found],
            None => return Ok(None),
        },
        Some(("datasetField", rest)) => {
            let Some((dataset, _field)) = rest.rsplit_once(':') else {
                return Ok(None);
            };
            match resolve(store, NodeKind::Dataset, dataset)? {
                Some(found) => vec![found],
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let direction = if downstream {
        Direction::Both
    } else {
        Direction::Upstream
    };
    let mut datasets = std::collections::BTreeSet::new();
    for (namespace, name) in &starts {
        let around = store.neighbourhood_of(
            NodeKind::Dataset,
            namespace,
            name,
            direction,
            depth.saturating_mul(2),
        )?;
        for (node, _) in around.into_iter().flat_map(|n| n.nodes) {
            if node.kind == NodeKind::Dataset {
                datasets.insert((node.namespace, node.name));
            }
        }
    }
    let mut nodes: std::collections::BTreeMap<FieldId, Value> = Default::default();
    let mut edges: Vec<(FieldId, FieldId)> = Vec::new();
    'datasets: for (namespace, name) in &datasets {
        let facets = store.dataset_facets(namespace, name)?;
        let types: HashMap<&str, &Value> = facets
            .get("schema")
            .and_then(|s| s.get("fields"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f.get("name")?.as_str()?, f.get("type")?)))
            .collect();
        let Some(fields) = facets
            .get("columnLineage")
            .and_then(|c| c.get("fields"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (field, lineage) in fields {
            // Facets come from unauthenticated events: a graph past the caps is cut, not read
            // in full while the store's read lock is held.
            if nodes.len() >= ui::MAX_COLUMN_EDGES || edges.len() >= ui::MAX_COLUMN_EDGES {
                break 'datasets;
            }
            let own = FieldId {
                namespace: namespace.clone(),
                dataset: name.clone(),
                field: field.clone(),
            };
            let mut inputs = Vec::new();
            for input in lineage
                .get("inputFields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(ui::MAX_COLUMN_EDGES)
            {
                let text = |member: &str| input.get(member).and_then(Value::as_str);
                let (Some(ns), Some(ds), Some(f)) =
                    (text("namespace"), text("name"), text("field"))
                else {
                    continue;
                };
                let from = FieldId {
                    namespace: ns.to_owned(),
                    dataset: ds.to_owned(),
                    field: f.to_owned(),
                };
                let (description, kind) = transformation(input);
                inputs.push(json!({
                    "namespace": ns, "dataset": ds, "field": f,
                    "transformationDescription": description, "transformationType": kind,
                }));
                nodes.entry(from.clone()).or_insert(Value::Null);
                edges.push((from, own.clone()));
            }
            let first = lineage.pointer("/inputFields/0").unwrap_or(&Value::Null);
            let (description, kind) = transformation(first);
            nodes.insert(
                own,
                json!({
                    "namespace": namespace, "dataset": name, "field": field,
                    "fieldType": types.get(field.as_str()),
                    "transformationDescription": description, "transformationType": kind,
                    "inputFields": inputs,
                }),
            );
        }
    }
    let edge =
        |(from, to): &(FieldId, FieldId)| json!({"origin": from.id(), "destination": to.id()});
    let mut ins: HashMap<&FieldId, Vec<Value>> = HashMap::new();
    let mut outs: HashMap<&FieldId, Vec<Value>> = HashMap::new();
    for pair in &edges {
        ins.entry(&pair.1).or_default().push(edge(pair));
        outs.entry(&pair.0).or_default().push(edge(pair));
    }
    let graph: Vec<Value> = nodes
        .into_iter()
        .map(|(field, data)| {
            // A field known only as an input: what its own dataset's facets say is not derived.
            let data = if data.is_null() {
                json!({"namespace": field.namespace, "dataset": field.dataset, "field": field.field, "inputFields": []})
            } else {
                data
            };
            json!({
                "id": field.id(),
                "type": "DATASET_FIELD",
                "data": data,
                "inEdges": ins.get(&field).cloned().unwrap_or_default(),
                "outEdges": outs.get(&field).cloned().unwrap_or_default(),
            })
        })
        .collect();
    Ok(Some(json!({ "graph": graph })))
}

async fn column_lineage(
    State(state): State<AppState>,
    Query(query): Query<LineageQuery>,
) -> Response {
    let depth = query.depth.unwrap_or(DEFAULT_DEPTH);
    let downstream = query
        .with_downstream
        .as_deref()
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let missing = format!(
        "no recorded node {}; ids are job:<namespace>:<name>, dataset:<namespace>:<name> or datasetField:<namespace>:<name>:<field>",
        query.node_id
    );
    let node_id = query.node_id;
    answer(&state, missing, move |store| {
        sharing_events(store, |store| {
            column_lineage_json(store, &node_id, depth, downstream)
        })
    })
    .await
}

/// The most hops `/api/v1/dk/lineage` walks.
const MAX_DK_DEPTH: usize = 100;

#[derive(Debug, Deserialize)]
struct NeighbourhoodQuery {
    name: String,
    direction: Option<Direction>,
    depth: Option<usize>,
}

/// What `dk lineage NAME` shows, from this server's store (`lineage.server`): the
/// neighbourhoods of every job or dataset `name` names, as [`crate::remote::Found`].
async fn dk_lineage(
    State(state): State<AppState>,
    Query(query): Query<NeighbourhoodQuery>,
) -> Response {
    let direction = query.direction.unwrap_or(Direction::Both);
    let depth = query.depth.unwrap_or(5).min(MAX_DK_DEPTH);
    answer(&state, String::new(), move |store| {
        let found = crate::remote::Found {
            neighbourhoods: store.neighbourhood(&query.name, direction, depth)?,
        };
        Ok(Some(serde_json::to_value(found).unwrap_or_default()))
    })
    .await
}
