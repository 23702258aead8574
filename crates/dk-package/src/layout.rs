//! The local OCI image layout (`$DK_HOME/registry`): `oci-layout`, `index.json` naming each
//! artifact by `org.opencontainers.image.ref.name`, and content-addressed `blobs/sha256/`.
//! Blobs are written to a temporary file and renamed once their digest is known; `index.json` is
//! replaced atomically under a lock, so a failed or concurrent build never leaves it half-written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PackageError;
use crate::bundle::MANIFESTS_LAYER;

pub const ARTIFACT_TYPE: &str = "application/vnd.infoblox.dk.package.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.infoblox.dk.config.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const TITLE: &str = "org.opencontainers.image.title";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest (the fields dk writes and reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    /// Optional in the image-layout spec (other writers leave it out); dk writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:` digest, refusing anything else (a digest names a file).
pub fn digest_hex(digest: &str) -> Result<&str, PackageError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(hex),
        _ => Err(PackageError::Invalid(format!(
            "`{digest}` is not a sha256 digest"
        ))),
    }
}

/// A writer that hashes what it writes and counts it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The digest and size of everything written, and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.written,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A blob being written: a temporary file in the layout, renamed to its digest by `commit`.
/// Dropped without a commit, the temporary file is removed.
#[derive(Debug)]
pub struct BlobWriter {
    temp: PathBuf,
    blobs: PathBuf,
    writer: Option<HashingWriter<std::io::BufWriter<File>>>,
}

impl BlobWriter {
    /// Renames the blob to its digest; returns the digest and size.
    pub fn commit(mut self) -> Result<(String, u64), PackageError> {
        let writer = self.writer.take().expect("committed once");
        let (digest, size, buffered) = writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|err| PackageError::io(&self.temp, err.into_error()))?;
        file.sync_all()
            .map_err(|err| PackageError::io(&self.temp, err))?;
        let target = self.blobs.join(digest_hex(&digest)?);
        std::fs::rename(&self.temp, &target).map_err(|err| PackageError::io(&target, err))?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, creating an empty one when there is none.
    pub fn open(root: &Path) -> Result<Layout, PackageError> {
        let layout = Layout {
            root: root.to_owned(),
        };
        let blobs = layout.blobs();
        std::fs::create_dir_all(&blobs).map_err(|err| PackageError::io(&blobs, err))?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            write_atomically(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !layout.index_path().exists() {
            layout.write_index(&Index {
                schema_version: 2,
                media_type: Some(INDEX_MEDIA_TYPE.to_owned()),
                manifests: Vec::new(),
            })?;
        }
        Ok(layout)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, PackageError> {
        Ok(self.blobs().join(digest_hex(digest)?))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|path| path.is_file())
    }

    pub fn blob_writer(&self) -> Result<BlobWriter, PackageError> {
        let temp = self.blobs().join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&temp).map_err(|err| PackageError::io(&temp, err))?;
        Ok(BlobWriter {
            temp,
            blobs: self.blobs(),
            writer: Some(HashingWriter::new(std::io::BufWriter::with_capacity(
                1 << 20,
                file,
            ))),
        })
    }

    /// Stores a small blob; returns its digest and size.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<(String, u64), PackageError> {
        let mut writer = self.blob_writer()?;
        writer
            .write_all(bytes)
            .map_err(|err| PackageError::io(&writer.temp, err))?;
        writer.commit()
    }

    /// A blob's bytes, verified against its digest (and size, when known).
    pub fn read_blob(&self, digest: &str, size: Option<u64>) -> Result<Vec<u8>, PackageError> {
        let path = self.blob_path(digest)?;
        let bytes = std::fs::read(&path).map_err(|err| PackageError::io(&path, err))?;
        verify(digest, size, &bytes)?;
        Ok(bytes)
    }

    /// Checks a (large) blob's file against its digest without reading it into memory.
    pub fn verify_blob(&self, descriptor: &Descriptor) -> Result<PathBuf, PackageError> {
        let path = self.blob_path(&descriptor.digest)?;
        let mut file = File::open(&path).map_err(|err| PackageError::io(&path, err))?;
        let mut hasher = HashingWriter::new(std::io::sink());
        std::io::copy(&mut file, &mut hasher).map_err(|err| PackageError::io(&path, err))?;
        let (digest, size, _) = hasher.finish();
        if digest != descriptor.digest || size != descriptor.size {
            return Err(PackageError::DigestMismatch {
                expected: descriptor.digest.clone(),
                actual: digest,
            });
        }
        Ok(path)
    }

    fn read_index(&self) -> Result<Index, PackageError> {
        let path = self.index_path();
        let bytes = std::fs::read(&path).map_err(|err| PackageError::io(&path, err))?;
        serde_json::from_slice(&bytes)
            .map_err(|err| PackageError::Invalid(format!("{}: {err}", path.display())))
    }

    fn write_index(&self, index: &Index) -> Result<(), PackageError> {
        let mut bytes = serde_json::to_vec_pretty(index).expect("an index serialises");
        bytes.push(b'\n');
        write_atomically(&self.index_path(), &bytes)
    }

    /// Every artifact named in the index.
    pub fn list(&self) -> Result<Vec<Descriptor>, PackageError> {
        Ok(self.read_index()?.manifests)
    }

    /// The manifest descriptor named `ref_name`.
    pub fn find(&self, ref_name: &str) -> Result<Option<Descriptor>, PackageError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(ref_name)))
    }

    /// Names `descriptor` `ref_name` in the index, replacing what had that name. The index is
    /// rewritten under a lock, so that concurrent builds do not lose each other's entries.
    pub fn tag(&self, ref_name: &str, descriptor: &Descriptor) -> Result<(), PackageError> {
        let lock_path = self.root.join(".index.lock");
        let lock = File::create(&lock_path).map_err(|err| PackageError::io(&lock_path, err))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|err| PackageError::io(&lock_path, err.into()))?;
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(ref_name));
        let mut named = descriptor.clone();
        named
            .annotations
            .insert(REF_NAME.to_owned(), ref_name.to_owned());
        index.manifests.push(named);
        self.write_index(&index)
    }

    /// The text files of the artifact's manifests layer (`dk.yaml`, the kind folders), verified.
    pub fn manifest_files(
        &self,
        descriptor: &Descriptor,
    ) -> Result<Vec<(String, String)>, PackageError> {
        let (manifest, _) = self.manifest(descriptor)?;
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.annotations.get(TITLE).map(String::as_str) == Some(MANIFESTS_LAYER))
            .ok_or_else(|| {
                PackageError::Invalid(format!("{} has no {MANIFESTS_LAYER}", descriptor.digest))
            })?;
        crate::extract::text_files(&self.verify_blob(layer)?)
    }

    /// The manifest of `descriptor`, verified.
    pub fn manifest(&self, descriptor: &Descriptor) -> Result<(Manifest, Vec<u8>), PackageError> {
        let bytes = self.read_blob(&descriptor.digest, Some(descriptor.size))?;
        let manifest = parse_manifest(&bytes)?;
        Ok((manifest, bytes))
    }
}

pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, PackageError> {
    serde_json::from_slice(bytes)
        .map_err(|err| PackageError::Invalid(format!("not an OCI image manifest: {err}")))
}

/// Checks bytes against a digest and size.
pub fn verify(digest: &str, size: Option<u64>, bytes: &[u8]) -> Result<(), PackageError> {
    let actual = digest_of(bytes);
    if actual != digest {
        return Err(PackageError::DigestMismatch {
            expected: digest.to_owned(),
            actual,
        });
    }
    if let Some(size) = size
        && size != bytes.len() as u64
    {
        return Err(PackageError::Invalid(format!(
            "{digest}: {} bytes where {size} were announced",
            bytes.len()
        )));
    }
    Ok(())
}

/// Writes a file through a temporary sibling and a rename: readers see the old or the new
/// contents, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    let temp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = File::create(&temp).map_err(|err| PackageError::io(&temp, err))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|err| PackageError::io(&temp, err))?;
    std::fs::rename(&temp, path).map_err(|err| PackageError::io(path, err))
}
