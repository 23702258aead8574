//! Delivering events to a lineage backend: an OpenLineage HTTP endpoint (Marquez, DataHub,
//! OpenMetadata, or any URL), or a file. Transient failures (timeouts, 5xx, 429) are retried
//! with exponential backoff until a deadline; a connection that cannot be made is not retried
//! within the flush; a refusal (other 4xx) is final.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// The lineage backends dk can deliver to.
pub const BACKENDS: &[&str] = &["marquez", "datahub", "openmetadata", "http", "file"];

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Http {
        url: String,
        api_key: Option<String>,
    },
    /// Appends events as JSON lines to a file.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("unknown lineage backend `{backend}`; expected one of {}", BACKENDS.join(", "))]
    UnknownBackend { backend: String },
    #[error("lineage endpoint `{0}` is not an http(s) URL")]
    NotAUrl(String),
}

impl Target {
    /// The target for a backend and an endpoint (a base URL, or the full URL for `http`, or a
    /// path for `file`). Without a backend, an endpoint is treated as Marquez's, as the
    /// OpenLineage clients treat `OPENLINEAGE_URL`.
    pub fn new(
        backend: Option<&str>,
        endpoint: &str,
        api_key: Option<String>,
    ) -> Result<Target, TargetError> {
        let path = match backend.unwrap_or("marquez") {
            "file" => return Ok(Target::File(PathBuf::from(endpoint))),
            "marquez" => "/api/v1/lineage",
            "datahub" => "/api/v2/lineage",
            "openmetadata" => "/api/v1/openlineage/lineage",
            "http" => "",
            other => {
                return Err(TargetError::UnknownBackend {
                    backend: other.to_owned(),
                });
            }
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(TargetError::NotAUrl(endpoint.to_owned()));
        }
        Ok(Target::Http {
            url: format!("{}{path}", endpoint.trim_end_matches('/')),
            api_key,
        })
    }

    /// How deliveries to this target are recorded, shown and logged: without the URL's
    /// `user:password@`, query or fragment, where credentials may be.
    pub fn id(&self) -> String {
        match self {
            Target::Http { url, .. } => match reqwest::Url::parse(url) {
                Ok(mut public) => {
                    let _ = public.set_username("");
                    let _ = public.set_password(None);
                    public.set_query(None);
                    public.set_fragment(None);
                    public.to_string()
                }
                Err(_) => url.clone(),
            },
            Target::File(path) => format!("file:{}", path.display()),
        }
    }
}

/// The outcome of delivering one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The backend refused the event; sending it again will not help.
    Rejected(String),
    /// Not delivered before the deadline; the event stays spooled.
    Pending(String),
}

/// Sends events to one target.
#[derive(Debug, Clone)]
pub struct Deliverer {
    target: Target,
    client: reqwest::Client,
    /// One request per event and no waiting for another flush: what a command does in line,
    /// where any failure hands the events to the background deliverer at once.
    in_line: bool,
    /// The last `Retry-After` the backend asked for, for the next round to honour.
    retry_after: Arc<Mutex<Option<Duration>>>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The longest `Retry-After` honoured: a backend asking for more is asked again then.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl Deliverer {
    pub fn new(target: Target) -> Deliverer {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("dk/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Deliverer {
            target,
            client,
            in_line: false,
            retry_after: Arc::default(),
        }
    }

    /// This deliverer making one request per event, and giving up on the first failure.
    pub fn in_line(&self) -> Deliverer {
        Deliverer {
            in_line: true,
            ..self.clone()
        }
    }

    pub fn is_in_line(&self) -> bool {
        self.in_line
    }

    /// The `Retry-After` of the backend's last answer that had one, taken.
    pub fn take_retry_after(&self) -> Option<Duration> {
        self.retry_after
            .lock()
            .ok()
            .and_then(|mut last| last.take())
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Delivers one event (its JSON), retrying transient failures until the deadline. The
    /// deadline may move while the event is in flight (a run shortens it when it ends): the
    /// request under way is not cancelled and resent, which could deliver it twice; only the
    /// time allowed changes.
    /// Also returns how many requests were made.
    pub async fn send(&self, event: &str, deadline: &watch::Receiver<Instant>) -> (Outcome, u32) {
        let requests = AtomicU32::new(0);
        let attempts = self.attempts(event, deadline.clone(), &requests);
        tokio::pin!(attempts);
        let mut deadline = deadline.clone();
        let mut moves = true;
        let outcome = loop {
            let current = *deadline.borrow_and_update();
            tokio::select! {
                outcome = &mut attempts => break outcome,
                _ = tokio::time::sleep_until(current) => {
                    break Outcome::Pending("not delivered before the deadline".into());
                }
                changed = deadline.changed(), if moves => moves = changed.is_ok(),
            }
        };
        (outcome, requests.load(Ordering::Relaxed))
    }

    async fn attempts(
        &self,
        event: &str,
        deadline: watch::Receiver<Instant>,
        requests: &AtomicU32,
    ) -> Outcome {
        let (url, api_key) = match &self.target {
            Target::File(path) => {
                requests.fetch_add(1, Ordering::Relaxed);
                return append(path, event);
            }
            Target::Http { url, api_key } => (url, api_key),
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            let mut request = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(event.to_owned());
            if let Some(key) = api_key {
                request = request.bearer_auth(key);
            }
            requests.fetch_add(1, Ordering::Relaxed);
            let mut wait = backoff;
            let failure = match request.send().await {
                Ok(response) if response.status().is_success() => return Outcome::Delivered,
                Ok(response) => {
                    let status = response.status();
                    if let Some(after) = retry_after(&response) {
                        wait = after;
                        if let Ok(mut last) = self.retry_after.lock() {
                            *last = Some(after);
                        }
                    }
                    let body = response.text().await.unwrap_or_default();
                    let message =
                        format!("{status}: {}", body.chars().take(200).collect::<String>());
                    if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                    {
                        return Outcome::Rejected(message);
                    }
                    message
                }
                // Nothing listens there: retrying within this flush would only wait (the
                // background deliverer, or the next command, tries again).
                Err(err) if err.is_connect() => {
                    return Outcome::Pending(error_chain(&err.without_url()));
                }
                Err(err) => error_chain(&err.without_url()),
            };
            if self.in_line || Instant::now() + wait >= *deadline.borrow() {
                return Outcome::Pending(failure);
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// A `Retry-After`: seconds, or an HTTP date (RFC 9110, section 10.2.3), in any of the three
/// forms a recipient must accept; a date past gives no wait.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    retry_after_value(value, chrono::Utc::now())
}

fn retry_after_value(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let date = http_date(value)?;
            (date - now).to_std().unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// An HTTP date: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), or the obsolete RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms.
fn http_date(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::NaiveDateTime;
    [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
    .map(|date| date.and_utc())
}

fn append(path: &std::path::Path, event: &str) -> Outcome {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let result = (|| {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            // A FIFO with no reader is an error to retry, not a run that hangs.
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)?;
        writeln!(file, "{event}")
    })();
    match result {
        Ok(()) => Outcome::Delivered,
        Err(err) => Outcome::Pending(err.to_string()),
    }
}

/// An error with its causes: reqwest's own message ("error sending request") says nothing of
/// why ("Connection refused").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targets_id_holds_no_credentials() {
        let target = Target::new(None, "https://alice:S3cret@lineage.example:5000", None).unwrap();
        assert_eq!(target.id(), "https://lineage.example:5000/api/v1/lineage");
        let custom = Target::new(Some("http"), "http://h/ol?api_key=k#x", None).unwrap();
        assert_eq!(custom.id(), "http://h/ol");
        let plain =
            Target::new(Some("http"), "http://127.0.0.1:5000/api/v1/lineage", None).unwrap();
        assert_eq!(plain.id(), "http://127.0.0.1:5000/api/v1/lineage");
    }

    /// A backend answering every request with `head`, on a free loopback port.
    fn answering(head: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                use std::io::{Read, Write};
                let mut stream = stream.unwrap();
                let mut request = [0; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(head.as_bytes());
            }
        });
        url
    }

    #[tokio::test]
    async fn in_line_delivery_makes_one_request_and_keeps_the_retry_after() {
        let url = answering(
            "HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let deliverer = Deliverer::new(Target::new(Some("http"), &url, None).unwrap()).in_line();
        let (_deadline, watch) = watch::channel(Instant::now() + Duration::from_secs(60));
        let (outcome, requests) = deliverer.send("{}", &watch).await;
        assert!(
            matches!(outcome, Outcome::Pending(ref why) if why.starts_with("503")),
            "{outcome:?}"
        );
        assert_eq!(requests, 1);
        assert_eq!(deliverer.take_retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(deliverer.take_retry_after(), None);
    }

    #[tokio::test]
    async fn a_retry_after_as_an_http_date_is_honoured() {
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        let head = format!(
            "HTTP/1.1 503 Busy\r\nRetry-After: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            later.format("%a, %d %b %Y %H:%M:%S GMT")
        );
        let url = answering(Box::leak(head.into_boxed_str()));
        let deliverer = Deliverer::new(Target::new(Some("http"), &url, None).unwrap()).in_line();
        let (_deadline, watch) = watch::channel(Instant::now() + Duration::from_secs(60));
        let (outcome, _) = deliverer.send("{}", &watch).await;
        assert!(matches!(outcome, Outcome::Pending(_)), "{outcome:?}");
        let wait = deliverer.take_retry_after().expect("the date is read");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    /// Attacker review: `dk lineage flush` with a backend refusing connections retried for its
    /// whole timeout (30 s) before saying so.
    #[tokio::test]
    async fn a_refused_connection_is_not_retried() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let deliverer = Deliverer::new(Target::new(Some("http"), &url, None).unwrap());
        let (_deadline, watch) = watch::channel(Instant::now() + Duration::from_secs(3));
        let (outcome, requests) = deliverer.send("{}", &watch).await;
        assert!(
            matches!(outcome, Outcome::Pending(ref why) if why.contains("refused")),
            "{outcome:?}"
        );
        assert_eq!(requests, 1);
    }

    #[test]
    fn retry_after_takes_seconds_and_the_three_forms_of_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("1994-11-06T08:49:00Z")
            .unwrap()
            .to_utc();
        let at = |value| retry_after_value(value, now);
        assert_eq!(at("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            at("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            at("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            at("Sun Nov  6 08:49:37 1994"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            at("Sun, 06 Nov 1994 08:00:00 GMT"),
            Some(Duration::ZERO),
            "past"
        );
        assert_eq!(at("Sat, 06 Nov 2094 08:00:00 GMT"), Some(MAX_RETRY_AFTER));
        assert_eq!(at("soon"), None);
    }

    #[tokio::test]
    async fn a_retry_after_past_the_deadline_ends_the_attempts() {
        let url = answering(
            "HTTP/1.1 429 Slow down\r\nRetry-After: 30\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let deliverer = Deliverer::new(Target::new(Some("http"), &url, None).unwrap());
        let (_deadline, watch) = watch::channel(Instant::now() + Duration::from_secs(5));
        let (outcome, requests) = deliverer.send("{}", &watch).await;
        assert!(matches!(outcome, Outcome::Pending(_)), "{outcome:?}");
        assert_eq!(
            requests, 1,
            "waited for the Retry-After instead of the backoff"
        );
    }

    #[test]
    fn backends_map_to_their_ingestion_paths() {
        let url = |backend| match Target::new(backend, "http://localhost:5000/", None).unwrap() {
            Target::Http { url, .. } => url,
            Target::File(_) => unreachable!(),
        };
        assert_eq!(url(None), "http://localhost:5000/api/v1/lineage");
        assert_eq!(url(Some("datahub")), "http://localhost:5000/api/v2/lineage");
        assert_eq!(
            url(Some("openmetadata")),
            "http://localhost:5000/api/v1/openlineage/lineage"
        );
        assert_eq!(url(Some("http")), "http://localhost:5000");
        assert!(matches!(
            Target::new(Some("kafka"), "x", None),
            Err(TargetError::UnknownBackend { .. })
        ));
        assert!(matches!(
            Target::new(None, "localhost:5000", None),
            Err(TargetError::NotAUrl(_))
        ));
        assert_eq!(
            Target::new(Some("file"), "/tmp/events.jsonl", None)
                .unwrap()
                .id(),
            "file:/tmp/events.jsonl"
        );
    }
}
