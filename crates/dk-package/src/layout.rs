//! The local OCI image layout (`$DK_HOME/registry`): `oci-layout`, `index.json` naming each
//! artifact by `org.opencontainers.image.ref.name`, and content-addressed `blobs/sha256/`.
//! Blobs are written to a temporary file and renamed once their digest is known; `index.json` is
//! replaced atomically under a lock, so a failed or concurrent build never leaves it half-written.
//! `publications.json` records where each artifact was pushed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

impl Manifest {
    /// Refuses an artifact that is not a dk package (an image, an SBOM, a Helm chart): its
    /// config would read as an empty Transform and its layers as no package.
    pub fn check_package(&self, reference: &str) -> Result<(), PackageError> {
        if self.artifact_type.as_deref() == Some(ARTIFACT_TYPE)
            || self.config.media_type == CONFIG_MEDIA_TYPE
        {
            return Ok(());
        }
        Err(PackageError::NotAPackage {
            reference: reference.to_owned(),
            artifact_type: self.artifact_type.clone(),
            config: self.config.media_type.clone(),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

/// A blob being written: a temporary file in the layout, renamed to its digest by `commit`.
/// Dropped without a commit, the temporary file is removed.
#[derive(Debug)]
pub struct BlobWriter {
    path: PathBuf,
    writer: HashingWriter<std::io::BufWriter<dk_fs::AtomicFile>>,
}

impl BlobWriter {
    /// Renames the blob to its digest; returns the digest and size.
    pub fn commit(self) -> Result<(String, u64), PackageError> {
        self.commit_checked(None)
    }

    /// Keeps the blob only if it is `expected` (digest and size): a registry that lies about a
    /// blob leaves nothing behind.
    pub fn commit_expecting(self, expected: &Descriptor) -> Result<(), PackageError> {
        self.commit_checked(Some(expected)).map(drop)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.written
    }

    fn commit_checked(self, expected: Option<&Descriptor>) -> Result<(String, u64), PackageError> {
        let (digest, size, buffered) = self.writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|err| PackageError::io(&self.path, err.into_error()))?;
        if let Some(expected) = expected {
            if digest != expected.digest {
                return Err(PackageError::DigestMismatch {
                    expected: expected.digest.clone(),
                    actual: digest,
                });
            }
            if size != expected.size {
                return Err(PackageError::Invalid(format!(
                    "{digest}: {size} bytes where {} were announced",
                    expected.size
                )));
            }
        }
        file.commit_as(std::ffi::OsStr::new(digest_hex(&digest)?))
            .map_err(|err| PackageError::fs(&self.path, err))?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Where a local artifact was pushed: `dk publish` records each push, `dk build --force` refuses
/// to rename a tag with a record, and `dk promote` finds the registry in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Publication {
    /// The local name, `namespace/name:tag`.
    pub reference: String,
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
struct Publications {
    publications: Vec<Publication>,
}

/// Whether two local names (`namespace/name:tag`) name one package version: the same tag,
/// or a semantic version spelled with and without its leading `v`.
fn same_version(a: &str, b: &str) -> bool {
    match (a.rsplit_once(':'), b.rsplit_once(':')) {
        (Some((repo_a, tag_a)), Some((repo_b, tag_b))) if repo_a == repo_b => {
            tag_a == tag_b
                || tag_a.strip_prefix('v').unwrap_or(tag_a)
                    == tag_b.strip_prefix('v').unwrap_or(tag_b)
                    && crate::reference::semver_of(tag_a).is_some()
        }
        _ => a == b,
    }
}

/// What naming an artifact did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tagged {
    /// The tag already named this artifact.
    Unchanged,
    /// The tag is new.
    Named,
    /// The tag named another, unpublished artifact (with `force`).
    Replaced(String),
}

/// Caps of what the layout reads back: its own small JSON files.
const INDEX_LIMIT: u64 = 64 << 20;
/// Manifests and configs are a few KiB; a registry that sends more is refused.
pub const MANIFEST_LIMIT: u64 = 4 << 20;

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
            dk_fs::write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|err| PackageError::fs(&marker, err))?;
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
        // A build killed mid-write left its temporary blob (it can be big): swept on the next
        // write, leaving those of builds still running.
        dk_fs::sweep_stale_temporaries(&self.blobs());
        let path = self.blobs().join("incoming");
        let file = dk_fs::AtomicFile::create(&path).map_err(|err| PackageError::fs(&path, err))?;
        Ok(BlobWriter {
            path,
            writer: HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Stores a small blob; returns its digest and size.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<(String, u64), PackageError> {
        let mut writer = self.blob_writer()?;
        writer
            .write_all(bytes)
            .map_err(|err| PackageError::io(&writer.path, err))?;
        writer.commit()
    }

    /// A small blob's bytes (a manifest, a config: at most [`MANIFEST_LIMIT`]), verified against
    /// its digest (and size, when known).
    pub fn read_blob(&self, digest: &str, size: Option<u64>) -> Result<Vec<u8>, PackageError> {
        let path = self.blob_path(digest)?;
        let bytes =
            dk_fs::read(&path, MANIFEST_LIMIT).map_err(|err| PackageError::fs(&path, err))?;
        verify(digest, size, &bytes)?;
        Ok(bytes)
    }

    /// Checks a (large) blob's file against its digest without reading it into memory.
    pub fn verify_blob(&self, descriptor: &Descriptor) -> Result<PathBuf, PackageError> {
        let path = self.blob_path(&descriptor.digest)?;
        let (file, _) = dk_fs::open_regular(&path, descriptor.size)
            .map_err(|err| PackageError::fs(&path, err))?;
        let mut hasher = HashingWriter::new(std::io::sink());
        std::io::copy(
            &mut file.take(descriptor.size.saturating_add(1)),
            &mut hasher,
        )
        .map_err(|err| PackageError::io(&path, err))?;
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
        let bytes = dk_fs::read(&path, INDEX_LIMIT).map_err(|err| PackageError::fs(&path, err))?;
        serde_json::from_slice(&bytes)
            .map_err(|err| PackageError::Invalid(format!("{}: {err}", path.display())))
    }

    fn write_index(&self, index: &Index) -> Result<(), PackageError> {
        let mut bytes = serde_json::to_vec_pretty(index).expect("an index serialises");
        bytes.push(b'\n');
        let path = self.index_path();
        dk_fs::write_atomic(&path, &bytes).map_err(|err| PackageError::fs(&path, err))
    }

    fn publications_path(&self) -> PathBuf {
        self.root.join("publications.json")
    }

    fn read_publications(&self) -> Result<Publications, PackageError> {
        let path = self.publications_path();
        match dk_fs::read(&path, INDEX_LIMIT) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|err| PackageError::Invalid(format!("{}: {err}", path.display()))),
            Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => {
                Ok(Publications::default())
            }
            Err(err) => Err(PackageError::fs(&path, err)),
        }
    }

    /// Every push `dk publish` recorded for the local name `ref_name` (`namespace/name:tag`).
    pub fn publications(&self, ref_name: &str) -> Result<Vec<Publication>, PackageError> {
        Ok(self
            .read_publications()?
            .publications
            .into_iter()
            .filter(|p| p.reference == ref_name)
            .collect())
    }

    /// Records a push (once per registry, repository, tag and digest).
    pub fn record_publication(&self, publication: &Publication) -> Result<(), PackageError> {
        let _lock = self.lock()?;
        let mut all = self.read_publications()?;
        if !all.publications.contains(publication) {
            all.publications.push(publication.clone());
        }
        let mut bytes = serde_json::to_vec_pretty(&all).expect("records serialise");
        bytes.push(b'\n');
        let path = self.publications_path();
        dk_fs::write_atomic(&path, &bytes).map_err(|err| PackageError::fs(&path, err))
    }

    /// An exclusive lock on the layout's names, held until dropped.
    fn lock(&self) -> Result<File, PackageError> {
        use std::os::unix::fs::OpenOptionsExt;
        let lock_path = self.root.join(".index.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&lock_path)
            .map_err(|err| PackageError::io(&lock_path, err))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|err| PackageError::io(&lock_path, err.into()))?;
        Ok(lock)
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

    /// Names `descriptor` `ref_name` in the index. The check of what the name held and the
    /// write happen under one lock, so two builds cannot both find the tag free: a tag that
    /// names other content is refused ([`PackageError::TagTaken`]) unless `force`, and a
    /// published one always ([`PackageError::TagPublished`]).
    pub fn tag(
        &self,
        ref_name: &str,
        descriptor: &Descriptor,
        force: bool,
    ) -> Result<Tagged, PackageError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        // `1.0.2` and `v1.0.2` are one version: promote and diff accept either spelling, so
        // two spellings naming different content would let one stand in for the other.
        let holders: Vec<(String, String)> = index
            .manifests
            .iter()
            .filter_map(|d| {
                let name = d.annotations.get(REF_NAME)?;
                same_version(name, ref_name).then(|| (name.clone(), d.digest.clone()))
            })
            .collect();
        let mut outcome = if holders.iter().any(|(name, _)| name == ref_name) {
            Tagged::Unchanged
        } else {
            Tagged::Named
        };
        for (name, digest) in holders.iter().filter(|(_, d)| *d != descriptor.digest) {
            if let Some(published) = self.publications(name)?.into_iter().next() {
                return Err(PackageError::TagPublished {
                    reference: name.clone(),
                    existing: digest.clone(),
                    built: descriptor.digest.clone(),
                    registry: format!("{}/{}", published.registry, published.repository),
                });
            }
            if !force {
                return Err(PackageError::TagTaken {
                    reference: name.clone(),
                    existing: digest.clone(),
                    built: descriptor.digest.clone(),
                });
            }
            outcome = Tagged::Replaced(digest.clone());
        }
        if outcome == Tagged::Unchanged {
            return Ok(outcome);
        }
        index.manifests.retain(|d| {
            d.annotations
                .get(REF_NAME)
                .is_none_or(|name| !same_version(name, ref_name) || d.digest == descriptor.digest)
        });
        let mut named = descriptor.clone();
        named
            .annotations
            .insert(REF_NAME.to_owned(), ref_name.to_owned());
        index.manifests.push(named);
        self.write_index(&index)?;
        Ok(outcome)
    }

    /// The text files of the artifact's manifests layer (`dk.yaml`, the kind folders), verified.
    pub fn manifest_files(
        &self,
        descriptor: &Descriptor,
    ) -> Result<Vec<(String, String)>, PackageError> {
        self.manifest_files_of(&self.manifest(descriptor)?.0)
    }

    /// The text files of the manifests layer of `manifest`, whose blobs the layout holds.
    pub fn manifest_files_of(
        &self,
        manifest: &Manifest,
    ) -> Result<Vec<(String, String)>, PackageError> {
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.annotations.get(TITLE).map(String::as_str) == Some(MANIFESTS_LAYER))
            .ok_or_else(|| {
                PackageError::Invalid(format!("the artifact has no {MANIFESTS_LAYER} layer"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(digest: &str) -> Descriptor {
        Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.to_owned(),
            digest: digest.to_owned(),
            size: 1,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    fn names(layout: &Layout) -> Vec<(String, String)> {
        let mut names: Vec<_> = layout
            .list()
            .unwrap()
            .into_iter()
            .map(|d| (d.annotations[REF_NAME].clone(), d.digest))
            .collect();
        names.sort();
        names
    }

    /// A first-time user built `1.0.2` and then `v1.0.2` of other content: both were kept, and
    /// `dk promote v1.0.2` pinned the `1.0.2` artifact.
    #[test]
    fn a_version_spelled_with_or_without_v_is_one_immutable_version() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open(dir.path()).unwrap();
        let (first, second) = (descriptor("sha256:aa"), descriptor("sha256:bb"));
        assert_eq!(
            layout.tag("default/demo:1.0.2", &first, false).unwrap(),
            Tagged::Named
        );
        let err = layout
            .tag("default/demo:v1.0.2", &second, false)
            .unwrap_err();
        assert!(
            matches!(&err, PackageError::TagTaken { reference, .. } if reference == "default/demo:1.0.2"),
            "{err}"
        );
        // The same content under the other spelling is an alias, not a conflict.
        assert_eq!(
            layout.tag("default/demo:v1.0.2", &first, false).unwrap(),
            Tagged::Named
        );
        assert_eq!(
            layout.tag("default/demo:v1.0.2", &first, false).unwrap(),
            Tagged::Unchanged
        );
        // Forcing replaces every spelling, so none is left naming the old content.
        assert_eq!(
            layout.tag("default/demo:v1.0.2", &second, true).unwrap(),
            Tagged::Replaced("sha256:aa".to_owned())
        );
        assert_eq!(
            names(&layout),
            [("default/demo:v1.0.2".to_owned(), "sha256:bb".to_owned())]
        );
        // Other versions, other packages and tags that are not versions are left alone.
        for other in [
            "default/demo:1.0.3",
            "default/other:1.0.2",
            "default/demo:vlatest",
        ] {
            assert_eq!(layout.tag(other, &first, false).unwrap(), Tagged::Named);
        }
        assert_eq!(
            layout.tag("default/demo:latest", &second, false).unwrap(),
            Tagged::Named
        );
        assert_eq!(names(&layout).len(), 5);
    }
}
