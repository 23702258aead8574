//! The stack's S3 on the native runtime, served by dk itself (the `s3s-fs` library), so that S3
//! needs no install: each bucket is a folder of the data directory, and requests are signed with
//! the stack's credentials ([`S3_ACCESS_KEY`], [`S3_SECRET_KEY`]).

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use crate::catalog::{S3_ACCESS_KEY, S3_SECRET_KEY};

/// How long a client may take to send a request head; it also closes idle kept-alive
/// connections.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("cannot serve {}: {message}", root.display())]
    Root {
        root: std::path::PathBuf,
        message: String,
    },
}

/// Serves the buckets under `root` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    root: &Path,
    shutdown: impl Future<Output = ()>,
) -> Result<(), S3Error> {
    let refused = |message: String| S3Error::Root {
        root: root.to_owned(),
        message,
    };
    if !root.is_dir() {
        return Err(refused("not a directory".into()));
    }
    // The library's error shows its cause only through Debug.
    let file_system = s3s_fs::FileSystem::new(root).map_err(|err| refused(format!("{err:?}")))?;
    let mut builder = S3ServiceBuilder::new(file_system);
    builder.set_auth(SimpleAuth::from_single(S3_ACCESS_KEY, S3_SECRET_KEY));
    let service = builder.build();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors, or a connection reset before it was accepted: the
                    // listener is fine, and a pause lets descriptors free up.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let mut builder = http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT);
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn answers_s3_and_refuses_unsigned_requests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lake")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let root = dir.path().to_owned();
        let server = std::thread::spawn(move || {
            runtime.block_on(serve(listener, &root, async {
                let _ = stopped.await;
            }))
        });
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET /lake HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        // Anonymous access is refused: the stack's credentials are required.
        assert!(response.starts_with("HTTP/1.1 403"), "{response}");
        assert!(response.contains("AccessDenied"), "{response}");
        stop.send(()).unwrap();
        server.join().unwrap().unwrap();
    }
}
