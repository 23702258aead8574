//! `dk lineage serve`: an OpenLineage endpoint over the local lineage store, with the read API
//! of Marquez so that Marquez clients and tools work against it.
//!
//! Writes go through one writer thread that commits whatever has arrived as one batch (group
//! commit): a request is answered once its event is committed, and many concurrent clients cost
//! few transactions. Reads use their own connection (the store is in WAL mode).

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::catalog::{DatasetRecord, JobRecord, Name, Page, RunRecord};
use crate::event::EventHead;
use crate::graph::{Direction, NodeKind};
use crate::store::{LineageStore, StoreError};

/// The largest batch the writer commits at once.
const MAX_BATCH: usize = 1024;
/// Marquez's default page size and lineage depth.
const DEFAULT_LIMIT: usize = 100;
const DEFAULT_DEPTH: usize = 20;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub store: PathBuf,
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

/// An event for the writer, and where to say whether it was committed.
struct Pending {
    head: EventHead,
    json: String,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Clone)]
struct AppState {
    writer: mpsc::Sender<Pending>,
    reader: Arc<Mutex<LineageStore>>,
    token: Option<Arc<str>>,
}

/// Commits events in batches until every sender is gone.
fn write_loop(mut store: LineageStore, mut queue: mpsc::Receiver<Pending>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let result = store
            .ingest_json(batch.iter().map(|p| (&p.head, p.json.as_str())))
            .map(drop)
            .map_err(|err| err.to_string());
        for pending in batch {
            let _ = pending.done.send(result.clone());
        }
    }
}

/// Serves on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let writer_store = LineageStore::open(&config.store)?;
    let reader = LineageStore::open(&config.store)?;
    let (writer, queue) = mpsc::channel(4 * MAX_BATCH);
    let write_thread = std::thread::spawn(move || write_loop(writer_store, queue));
    let state = AppState {
        writer,
        reader: Arc::new(Mutex::new(reader)),
        token: config.token.map(Arc::from),
    };
    let app = Router::new()
        .route("/api/v1/lineage", get(lineage_graph).post(record))
        .route("/api/v1/namespaces", get(namespaces))
        .route("/api/v1/namespaces/{namespace}/jobs", get(jobs))
        .route("/api/v1/namespaces/{namespace}/datasets", get(datasets))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(config.max_body))
        .layer(middleware::from_fn_with_state(config.timeout, deadline))
        .with_state(state);
    accept_loop(listener, app, config.timeout, shutdown).await;
    // The router (and its queue senders) is gone: the writer drains what is left and ends.
    let _ = tokio::task::spawn_blocking(move || write_thread.join()).await;
    Ok(())
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

async fn record(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let json_content = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("application/json"));
    if !json_content {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the event as application/json",
        );
    }
    let Ok(json) = String::from_utf8(body.to_vec()) else {
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    let head = match EventHead::parse_storable(&json) {
        Ok(head) => head,
        Err(err) => return error(StatusCode::BAD_REQUEST, err.to_string()),
    };
    let (done, committed) = oneshot::channel();
    if state
        .writer
        .send(Pending { head, json, done })
        .await
        .is_err()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    }
    match committed.await {
        Ok(Ok(())) => StatusCode::CREATED.into_response(),
        Ok(Err(message)) => error(StatusCode::INTERNAL_SERVER_ERROR, message),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping"),
    }
}

/// Runs a read on the read connection, off the async threads.
async fn read<T: Send + 'static>(
    state: &AppState,
    query: impl FnOnce(&LineageStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    let reader = state.reader.clone();
    tokio::task::spawn_blocking(move || {
        let store = reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        query(&store)
    })
    .await
    .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
    .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

#[derive(Debug, Deserialize)]
struct Paging {
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn namespaces(State(state): State<AppState>) -> Response {
    match read(&state, |store| store.namespaces()).await {
        Ok(namespaces) => axum::Json(json!({
            "namespaces": namespaces.iter().map(|ns| json!({
                "name": ns.name,
                "createdAt": ns.created_at,
                "updatedAt": ns.updated_at,
                "ownerName": "dk",
                "description": null,
                "isHidden": false,
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(response) => response,
    }
}

/// A listing query of the store: a namespace's jobs or datasets, by limit and offset.
type ListQuery<T> = fn(&LineageStore, &str, usize, usize) -> Result<Page<T>, StoreError>;

/// One page of a namespace's jobs or datasets, as `{"<key>": [...], "totalCount": n}`.
async fn listing<T: Send + 'static>(
    state: &AppState,
    namespace: String,
    paging: Paging,
    key: &'static str,
    query: ListQuery<T>,
    render: fn(&T) -> Value,
) -> Response {
    let limit = paging.limit.unwrap_or(DEFAULT_LIMIT);
    let offset = paging.offset.unwrap_or(0);
    match read(state, move |store| query(store, &namespace, limit, offset)).await {
        Ok(page) => axum::Json(json!({
            key: page.items.iter().map(render).collect::<Vec<_>>(),
            "totalCount": page.total,
        }))
        .into_response(),
        Err(response) => response,
    }
}

async fn jobs(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(
        &state,
        namespace,
        paging,
        "jobs",
        LineageStore::jobs,
        job_json,
    )
    .await
}

async fn datasets(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(
        &state,
        namespace,
        paging,
        "datasets",
        LineageStore::datasets,
        dataset_json,
    )
    .await
}

fn names_json(names: &[Name]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"namespace": n.namespace, "name": n.name}))
        .collect()
}

/// Marquez's run states for the OpenLineage event that set them.
fn run_state(event_type: &str) -> &'static str {
    match event_type {
        "COMPLETE" => "COMPLETED",
        "FAIL" => "FAILED",
        "ABORT" => "ABORTED",
        _ => "RUNNING",
    }
}

fn run_json(run: &RunRecord) -> Value {
    let time = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let duration = match (time(&run.started_at), time(&run.ended_at)) {
        (Some(start), Some(end)) => Some((end - start).num_milliseconds()),
        _ => None,
    };
    json!({
        "id": run.id,
        "createdAt": run.started_at.as_deref().unwrap_or(&run.updated_at),
        "updatedAt": run.updated_at,
        "nominalStartTime": null,
        "nominalEndTime": null,
        "state": run_state(&run.state),
        "startedAt": run.started_at,
        "endedAt": run.ended_at,
        "durationMs": duration,
        "args": {},
        "facets": {},
    })
}

/// A job in Marquez's `Job` shape.
fn job_json(job: &JobRecord) -> Value {
    json!({
        "id": {"namespace": job.namespace, "name": job.name},
        "type": if job.streaming { "STREAM" } else { "BATCH" },
        "name": job.name,
        "simpleName": job.name,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "namespace": job.namespace,
        "inputs": names_json(&job.inputs),
        "outputs": names_json(&job.outputs),
        "location": null,
        "description": null,
        "latestRun": job.latest_run.as_ref().map(run_json),
        "facets": {},
    })
}

/// A dataset in Marquez's `Dataset` shape.
fn dataset_json(dataset: &DatasetRecord) -> Value {
    json!({
        "id": {"namespace": dataset.namespace, "name": dataset.name},
        "type": "DB_TABLE",
        "name": dataset.name,
        "physicalName": dataset.name,
        "createdAt": dataset.created_at,
        "updatedAt": dataset.updated_at,
        "namespace": dataset.namespace,
        "sourceName": dataset.namespace,
        "fields": [],
        "tags": [],
        "lastModifiedAt": dataset.updated_at,
        "description": dataset.alias,
        "facets": {},
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineageQuery {
    node_id: String,
    depth: Option<usize>,
}

fn marquez_id(kind: NodeKind, namespace: &str, name: &str) -> String {
    match kind {
        NodeKind::Job => format!("job:{namespace}:{name}"),
        NodeKind::Dataset => format!("dataset:{namespace}:{name}"),
    }
}

/// The graph around a node, in Marquez's `LineageGraph` shape. Node ids are
/// `job:<namespace>:<name>` or `dataset:<namespace>:<name>`; namespaces may hold colons
/// (`postgres://host:5432`), so each split is tried against the store.
fn lineage_json(
    store: &LineageStore,
    node_id: &str,
    depth: usize,
) -> Result<Option<Value>, StoreError> {
    let (kind, rest) = match node_id.split_once(':') {
        Some(("job", rest)) => (NodeKind::Job, rest),
        Some(("dataset", rest)) => (NodeKind::Dataset, rest),
        _ => return Ok(None),
    };
    let mut found = None;
    for (index, _) in rest.match_indices(':') {
        let (namespace, name) = (&rest[..index], &rest[index + 1..]);
        if let Some(neighbourhood) =
            store.neighbourhood_of(kind, namespace, name, Direction::Both, depth)?
        {
            found = Some(neighbourhood);
            break;
        }
    }
    let Some(neighbourhood) = found else {
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
                .map(|j| job_json(&j)),
            NodeKind::Dataset => store
                .dataset(&node.namespace, &node.name)?
                .map(|d| dataset_json(&d)),
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
    match read(&state, move |store| lineage_json(store, &node_id, depth)).await {
        Ok(Some(graph)) => axum::Json(graph).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "no recorded node {}; ids are job:<namespace>:<name> or dataset:<namespace>:<name>",
                query.node_id
            ),
        ),
        Err(response) => response,
    }
}
