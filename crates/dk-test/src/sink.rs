//! A loopback HTTP endpoint that receives OpenLineage events: it records every request and
//! answers with scripted status codes, so tests can take a lineage backend down, bring it back,
//! or make it fail once.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the sink received JSON")
    }
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    /// Status codes to answer with, in order; 201 once they run out.
    script: VecDeque<u16>,
}

/// An HTTP sink on 127.0.0.1.
#[derive(Debug)]
pub struct HttpSink {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A loopback port that nothing listens on (a backend that is down).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn handle(mut stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            // A client gone mid-request (killed) sent no request.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some((key, value)) = line.trim_end().split_once(':') {
            if key.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let status = {
        let mut state = state.lock().expect("sink state");
        state.received.push(Received {
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        state.script.pop_front().unwrap_or(201)
    };
    write!(
        stream,
        "HTTP/1.1 {status} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()
}

impl HttpSink {
    /// A sink on a free port.
    pub fn start() -> HttpSink {
        HttpSink::start_on(0)
    }

    /// A sink on `port` (to bring a backend back where it was).
    pub fn start_on(port: u16) -> HttpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the sink");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = handle(stream, &state);
                    }
                }
            })
        };
        HttpSink {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The base URL (what `OPENLINEAGE_URL` holds).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers the next requests with these status codes.
    pub fn respond_with(&self, statuses: &[u16]) {
        self.state
            .lock()
            .expect("sink state")
            .script
            .extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("sink state").received.clone()
    }

    /// The run id and event type of each event received, in order: what tells a duplicate.
    pub fn received_keys(&self) -> Vec<(String, String)> {
        self.received()
            .iter()
            .map(|r| {
                let event = r.json();
                (
                    event["run"]["runId"].to_string(),
                    event["eventType"].to_string(),
                )
            })
            .collect()
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
