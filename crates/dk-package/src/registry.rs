//! Pushing and pulling artifacts over the OCI distribution API (through `oci-client`, which also
//! answers `WWW-Authenticate` challenges: bearer tokens as ghcr.io and Harbor use them, or basic
//! auth). Blobs the registry has are skipped after a HEAD. A blob goes up in one request (small
//! ones from memory, large ones streamed from the file), or, for registries behind proxies that
//! limit request bodies, in chunks of 4 MiB. The registry checks each blob against its digest;
//! every pulled blob is checked here.

use std::io::Read;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::PackageError;
use crate::credentials::Credentials;
use crate::layout::{Descriptor, Layout, MANIFEST_MEDIA_TYPE, Manifest, parse_manifest, verify};
use crate::reference::{RemoteRef, is_loopback};

/// Called with the bytes of each blob, or chunk, as it is sent or received.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// Blobs up to this size are sent from memory; larger ones are streamed from their file.
const IN_MEMORY_LIMIT: u64 = 16 << 20;
/// How much of a file each read of a streamed upload takes.
const READ_SIZE: usize = 8 << 20;

/// A registry, authenticated as configured.
pub struct Registry {
    client: Client,
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

fn registry_error(what: &str, err: OciDistributionError) -> PackageError {
    let hint = match &err {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => {
            " (check `docker login`, or DK_REGISTRY_USER/DK_REGISTRY_PASSWORD)"
        }
        _ => "",
    };
    PackageError::Registry(format!("{what}: {err}{hint}"))
}

fn not_found(err: &OciDistributionError) -> bool {
    match err {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
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
        let protocol = if plain_http || is_loopback(host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
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
            .map_err(|err| registry_error(&format!("cannot sign in to {}", self.host), err))
    }

    /// The digest the registry has under `target`'s tag, or `None`.
    pub async fn digest_of(&self, target: &RemoteRef) -> Result<Option<String>, PackageError> {
        let reference = self.reference(target);
        match self
            .client
            .fetch_manifest_digest(&reference, &self.auth)
            .await
        {
            Ok(digest) => Ok(Some(digest)),
            Err(err) if not_found(&err) => Ok(None),
            Err(err) => Err(registry_error(&format!("cannot read {target}"), err)),
        }
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
                .map_err(|err| registry_error("cannot check a blob", err))?;
            if exists {
                pushed.skipped_blobs += 1;
                progress(blob.size);
                continue;
            }
            let path = layout.blob_path(&blob.digest)?;
            let failed = |err| registry_error(&format!("cannot upload {}", blob.digest), err);
            if !self.chunked && blob.size <= IN_MEMORY_LIMIT {
                let bytes = std::fs::read(&path).map_err(|err| PackageError::io(&path, err))?;
                self.client
                    .push_blob(&reference, bytes, &blob.digest)
                    .await
                    .map_err(failed)?;
                progress(blob.size);
            } else {
                let file =
                    std::fs::File::open(&path).map_err(|err| PackageError::io(&path, err))?;
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
            .map_err(|err| registry_error(&format!("cannot push the manifest to {target}"), err))?;
        Ok(pushed)
    }

    /// The manifest at `target`, its bytes and digest, verified (against the reference's digest
    /// when it has one, else against what the registry announced).
    pub async fn manifest(
        &self,
        target: &RemoteRef,
    ) -> Result<(Manifest, Vec<u8>, String), PackageError> {
        let reference = self.reference(target);
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&reference, &self.auth, &[MANIFEST_MEDIA_TYPE])
            .await
            .map_err(|err| {
                if not_found(&err) {
                    PackageError::Registry(format!("{target} does not exist"))
                } else {
                    registry_error(&format!("cannot read {target}"), err)
                }
            })?;
        let expected = target.digest.clone().unwrap_or(digest);
        verify(&expected, None, &bytes)?;
        Ok((parse_manifest(&bytes)?, bytes.to_vec(), expected))
    }

    /// Downloads blobs of `target` into `layout` (blobs it has are not fetched again), each
    /// verified before it is kept.
    pub async fn fetch_blobs(
        &self,
        target: &RemoteRef,
        blobs: &[&Descriptor],
        layout: &Layout,
        progress: &Progress,
    ) -> Result<(), PackageError> {
        let reference = self.reference(target);
        for blob in blobs {
            if layout.has_blob(&blob.digest) && layout.verify_blob(blob).is_ok() {
                progress(blob.size);
                continue;
            }
            let mut bytes = Vec::with_capacity(blob.size.min(64 << 20) as usize);
            self.client
                .pull_blob(&reference, blob.digest.as_str(), &mut bytes)
                .await
                .map_err(|err| registry_error(&format!("cannot download {}", blob.digest), err))?;
            verify(&blob.digest, Some(blob.size), &bytes)?;
            layout.put_blob(&bytes)?;
            progress(blob.size);
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
