//! Pushing and pulling artifacts over the OCI distribution API (through `oci-client`, which also
//! answers `WWW-Authenticate` challenges: bearer tokens as ghcr.io and Harbor use them, or basic
//! auth). Blobs the registry has are skipped after a HEAD. A blob goes up in one request (small
//! ones from memory, large ones streamed from the file), or, for registries behind proxies that
//! limit request bodies, in chunks of 4 MiB. The registry checks each blob against its digest;
//! every pulled blob is checked here, streamed to a file and never read past its declared size;
//! manifests are read by dk itself, capped at a few MiB.

use std::io::Read;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::PackageError;
use crate::credentials::Credentials;
use crate::layout::{
    Descriptor, Layout, MANIFEST_LIMIT, MANIFEST_MEDIA_TYPE, Manifest, digest_of, parse_manifest,
    verify,
};
use crate::reference::{RemoteRef, is_loopback};

/// Called with the bytes of each blob, or chunk, as it is sent or received.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// Blobs up to this size are sent from memory; larger ones are streamed from their file.
const IN_MEMORY_LIMIT: u64 = 16 << 20;
/// How much of a file each read of a streamed upload takes.
const READ_SIZE: usize = 8 << 20;

/// The most pages of 1000 tags [`Registry::tags`] reads: a repository with more is not one
/// package's versions.
pub const TAG_PAGES: usize = 20;

/// A registry, authenticated as configured.
pub struct Registry {
    client: Client,
    /// For the requests dk makes itself (manifests, whose size it caps).
    http: reqwest::Client,
    scheme: &'static str,
    auth: RegistryAuth,
    host: String,
    chunked: bool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    pub uploaded_blobs: usize,
    pub uploaded_bytes: u64,
    pub skipped_blobs: usize,
}

/// The connection failure under `err`, said plainly ("connection refused", "timed out", the
/// resolver's message), when that is what it is: "error sending request for url" says nothing.
pub(crate) fn connection_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use std::io::ErrorKind;
    let mut connecting = false;
    let mut innermost = err.to_string();
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(request) = err.downcast_ref::<reqwest::Error>() {
            if request.is_timeout() {
                return Some("timed out".into());
            }
            connecting |= request.is_connect();
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            let reason = match io.kind() {
                ErrorKind::ConnectionRefused => Some("connection refused"),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                    Some("connection reset")
                }
                ErrorKind::TimedOut => Some("timed out"),
                ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                    Some("no route to host")
                }
                _ => None,
            };
            if let Some(reason) = reason {
                return Some(reason.into());
            }
        }
        innermost = err.to_string();
        current = err.source();
    }
    connecting.then_some(innermost)
}

/// `host` could not be reached, or `None` when `err` is something else.
fn unreachable(host: &str, err: &(dyn std::error::Error + 'static)) -> Option<PackageError> {
    connection_failure(err).map(|reason| PackageError::Unreachable {
        host: host.to_owned(),
        reason,
    })
}

fn registry_error(host: &str, what: &str, err: OciDistributionError) -> PackageError {
    // The request error itself, not `err`: oci-client's error is transparent over it and would
    // hide that it was a connection that failed.
    let under: &(dyn std::error::Error + 'static) = match &err {
        OciDistributionError::RequestError(request) => request,
        other => other,
    };
    if let Some(unreachable) = unreachable(host, under) {
        return unreachable;
    }
    let hint = match &err {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => {
            " (check `docker login`, or DK_REGISTRY_USER/DK_REGISTRY_PASSWORD)"
        }
        _ => "",
    };
    PackageError::Registry(format!("{what}: {err}{hint}"))
}

impl Registry {
    /// A client for `host`: plain HTTP for loopback hosts or when asked, HTTPS otherwise;
    /// `chunked` uploads blobs in chunks.
    pub fn new(
        host: &str,
        plain_http: bool,
        credentials: Option<&Credentials>,
        chunked: bool,
    ) -> Registry {
        let (protocol, scheme) = if plain_http || is_loopback(host) {
            (ClientProtocol::Http, "http")
        } else {
            (ClientProtocol::Https, "https")
        };
        let client = Client::new(ClientConfig {
            protocol,
            use_monolithic_push: true,
            ..Default::default()
        });
        let auth = match credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Registry {
            client,
            http: reqwest::Client::new(),
            scheme,
            auth,
            host: host.to_owned(),
            chunked,
        }
    }

    fn reference(&self, target: &RemoteRef) -> Reference {
        match (&target.digest, &target.tag) {
            (Some(digest), _) => Reference::with_digest(
                target.registry.clone(),
                target.repository.clone(),
                digest.clone(),
            ),
            (None, tag) => Reference::with_tag(
                target.registry.clone(),
                target.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }

    async fn authenticate(
        &self,
        reference: &Reference,
        operation: RegistryOperation,
    ) -> Result<(), PackageError> {
        self.client
            .auth(reference, &self.auth, operation)
            .await
            .map(drop)
            .map_err(|err| {
                registry_error(&self.host, &format!("cannot sign in to {}", self.host), err)
            })
    }

    /// The digest the registry has under `target`'s tag, or `None`.
    pub async fn digest_of(&self, target: &RemoteRef) -> Result<Option<String>, PackageError> {
        Ok(self
            .manifest_bytes(target)
            .await?
            .map(|bytes| digest_of(&bytes)))
    }

    /// The manifest's bytes at `target`, or `None` when there is none. At most
    /// [`MANIFEST_LIMIT`] bytes are read, whatever the registry declares or sends.
    async fn manifest_bytes(&self, target: &RemoteRef) -> Result<Option<Vec<u8>>, PackageError> {
        target.validate()?;
        let path = format!("manifests/{}", target.reference());
        self.get(target, &path, MANIFEST_MEDIA_TYPE, "the manifest")
            .await
    }

    /// Every tag of `target`'s repository (none when the repository does not exist), following
    /// the distribution API's pages (at most [`TAG_PAGES`] of 1000).
    pub async fn tags(&self, target: &RemoteRef) -> Result<Vec<String>, PackageError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        target.validate()?;
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..TAG_PAGES {
            let mut path = "tags/list?n=1000".to_owned();
            if let Some(last) = tags.last() {
                path.push_str(&format!("&last={last}"));
            }
            let Some(bytes) = self
                .get(target, &path, "application/json", "the tag list")
                .await?
            else {
                break;
            };
            let page: Page = serde_json::from_slice(&bytes).map_err(|err| {
                PackageError::Registry(format!("the tag list of {target} is not JSON: {err}"))
            })?;
            let page = page.tags.unwrap_or_default();
            let full = page.len() >= 1000;
            // Tags are the registry's words: only valid ones are kept (they travel into URLs).
            tags.extend(
                page.into_iter()
                    .filter(|tag| crate::reference::check_tag(tag).is_ok()),
            );
            if !full {
                break;
            }
        }
        Ok(tags)
    }

    /// GETs `/v2/<repository>/<path>` of `target`, authenticated for pulling: `None` on 404, at
    /// most [`MANIFEST_LIMIT`] bytes (`what` names it in messages).
    async fn get(
        &self,
        target: &RemoteRef,
        path: &str,
        accept: &str,
        what: &str,
    ) -> Result<Option<Vec<u8>>, PackageError> {
        let reference = self.reference(target);
        let token = self
            .client
            .auth(&reference, &self.auth, RegistryOperation::Pull)
            .await
            .map_err(|err| {
                registry_error(&self.host, &format!("cannot sign in to {}", self.host), err)
            })?;
        let url = format!(
            "{}://{}/v2/{}/{path}",
            self.scheme, target.registry, target.repository,
        );
        let mut request = self.http.get(&url).header(reqwest::header::ACCEPT, accept);
        request = match (&token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            _ => request,
        };
        let failed = |err: reqwest::Error| {
            unreachable(&self.host, &err).unwrap_or_else(|| {
                PackageError::Registry(format!("cannot read {target}: {}", err.without_url()))
            })
        };
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let hint = if status == reqwest::StatusCode::UNAUTHORIZED
                || status == reqwest::StatusCode::FORBIDDEN
            {
                " (check `docker login`, or DK_REGISTRY_USER/DK_REGISTRY_PASSWORD)"
            } else {
                ""
            };
            return Err(PackageError::Registry(format!(
                "cannot read {target}: the registry answered {status}{hint}"
            )));
        }
        let too_large = || {
            PackageError::Registry(format!(
                "{what} of {target} is larger than {MANIFEST_LIMIT} bytes: refused"
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MANIFEST_LIMIT)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if (bytes.len() + chunk.len()) as u64 > MANIFEST_LIMIT {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    /// Pushes the artifact `descriptor` of `layout` to `target`: blobs first (skipping those the
    /// registry has), the manifest last, so the tag never names an incomplete artifact.
    /// `progress` receives the bytes as they are sent.
    pub async fn push(
        &self,
        layout: &Layout,
        descriptor: &Descriptor,
        target: &RemoteRef,
        progress: &Progress,
    ) -> Result<Pushed, PackageError> {
        target.validate()?;
        let reference = self.reference(target);
        self.authenticate(&reference, RegistryOperation::Push)
            .await?;
        let (manifest, manifest_bytes) = layout.manifest(descriptor)?;
        let mut pushed = Pushed::default();
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            let exists = self
                .client
                .blob_exists(&reference, &blob.digest)
                .await
                .map_err(|err| registry_error(&self.host, "cannot check a blob", err))?;
            if exists {
                pushed.skipped_blobs += 1;
                progress(blob.size);
                continue;
            }
            let path = layout.blob_path(&blob.digest)?;
            let failed =
                |err| registry_error(&self.host, &format!("cannot upload {}", blob.digest), err);
            if !self.chunked && blob.size <= IN_MEMORY_LIMIT {
                let bytes = dk_fs::read(&path, IN_MEMORY_LIMIT)
                    .map_err(|err| PackageError::fs(&path, err))?;
                self.client
                    .push_blob(&reference, bytes, &blob.digest)
                    .await
                    .map_err(failed)?;
                progress(blob.size);
            } else {
                let (file, _) = dk_fs::open_regular(&path, blob.size)
                    .map_err(|err| PackageError::fs(&path, err))?;
                let report = progress.clone();
                let stream = futures_util::StreamExt::inspect(file_stream(file), move |chunk| {
                    if let Ok(bytes) = chunk {
                        report(bytes.len() as u64);
                    }
                });
                if self.chunked {
                    let sent = self
                        .client
                        .push_blob_stream_chunked(&reference, stream)
                        .await
                        .map_err(failed)?;
                    if sent.blob_digest != blob.digest {
                        return Err(PackageError::DigestMismatch {
                            expected: blob.digest.clone(),
                            actual: sent.blob_digest,
                        });
                    }
                } else {
                    self.client
                        .push_blob_stream(&reference, stream, &blob.digest, Some(blob.size))
                        .await
                        .map_err(failed)?;
                }
            }
            pushed.uploaded_blobs += 1;
            pushed.uploaded_bytes += blob.size;
        }
        let content_type = MANIFEST_MEDIA_TYPE.parse().expect("a valid header value");
        self.client
            .push_manifest_raw(&reference, manifest_bytes, content_type)
            .await
            .map_err(|err| {
                registry_error(
                    &self.host,
                    &format!("cannot push the manifest to {target}"),
                    err,
                )
            })?;
        Ok(pushed)
    }

    /// The manifest at `target`, its bytes and digest, verified (against the reference's digest
    /// when it has one).
    pub async fn manifest(
        &self,
        target: &RemoteRef,
    ) -> Result<(Manifest, Vec<u8>, String), PackageError> {
        let bytes = self
            .manifest_bytes(target)
            .await?
            .ok_or_else(|| PackageError::Registry(format!("{target} does not exist")))?;
        let digest = match &target.digest {
            Some(expected) => {
                verify(expected, None, &bytes)?;
                expected.clone()
            }
            None => digest_of(&bytes),
        };
        Ok((parse_manifest(&bytes)?, bytes, digest))
    }

    /// Downloads blobs of `target` into `layout` (blobs it has are not fetched again), each
    /// streamed to a file and kept only once verified. A blob declared larger than `max_size`
    /// is not requested; a registry that sends more than a blob's declared size is cut off at
    /// the first byte too many.
    pub async fn fetch_blobs(
        &self,
        target: &RemoteRef,
        blobs: &[&Descriptor],
        max_size: u64,
        layout: &Layout,
        progress: &Progress,
    ) -> Result<(), PackageError> {
        use futures_util::StreamExt;
        target.validate()?;
        let reference = self.reference(target);
        for blob in blobs {
            if blob.size > max_size {
                return Err(PackageError::Registry(format!(
                    "{} declares {} bytes, more than the {max_size} allowed (pull.maxBytes; configs at most {MANIFEST_LIMIT})",
                    blob.digest, blob.size
                )));
            }
            if layout.has_blob(&blob.digest) && layout.verify_blob(blob).is_ok() {
                progress(blob.size);
                continue;
            }
            let failed =
                |err| registry_error(&self.host, &format!("cannot download {}", blob.digest), err);
            let oversize = || {
                PackageError::Registry(format!(
                    "{} was declared as {} bytes and the registry sent more: refused",
                    blob.digest, blob.size
                ))
            };
            let mut stream = self
                .client
                .pull_blob_stream(&reference, blob.digest.as_str())
                .await
                .map_err(failed)?;
            if stream.content_length.is_some_and(|n| n > blob.size) {
                return Err(oversize());
            }
            let mut writer = layout.blob_writer()?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|err| {
                    PackageError::Registry(format!("cannot download {}: {err}", blob.digest))
                })?;
                if writer.written() + chunk.len() as u64 > blob.size {
                    return Err(oversize());
                }
                std::io::Write::write_all(&mut writer, &chunk)
                    .map_err(|err| PackageError::io(layout.root(), err))?;
                progress(chunk.len() as u64);
            }
            writer.commit_expecting(blob)?;
        }
        Ok(())
    }
}

/// A file as a stream of byte chunks, for an upload.
fn file_stream(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; READ_SIZE];
        let mut filled = 0;
        while filled < READ_SIZE {
            match file.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) => return Some((Err(err.into()), file)),
            }
        }
        (filled > 0).then(|| {
            buffer.truncate(filled);
            (Ok(bytes::Bytes::from(buffer)), file)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a request to `url` fails with, as dk says it.
    fn failure(url: &str) -> Option<String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime
            .block_on(reqwest::Client::new().get(url).send())
            .expect_err("no server");
        connection_failure(&err)
    }

    #[test]
    fn connection_failures_are_said_plainly() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(
            failure(&format!("http://127.0.0.1:{port}/v2/")).as_deref(),
            Some("connection refused")
        );
        let unresolved = failure("http://registry.invalid/v2/").expect("a connection failure");
        assert!(
            unresolved.contains("failed to lookup address information"),
            "{unresolved}"
        );
    }
}
