//! Data packages as OCI artifacts (DESIGN §6): reproducible bundles ([`bundle`]), the local OCI
//! image layout ([`layout`]), references ([`reference`]), registry credentials from the Docker
//! config ([`credentials`]), pushing and pulling over the OCI distribution API ([`registry`]),
//! safe extraction ([`extract`]), whether a build still holds the package on disk ([`drift`]) and a python package's vendored wheels ([`wheels`]).

use std::path::{Path, PathBuf};

pub mod bundle;
pub mod credentials;
pub mod doctor;
pub mod drift;
pub mod extract;
pub mod layout;
pub mod reference;
pub mod registry;
pub mod secrets;
pub mod wheels;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    /// A reference, registry, repository or tag that breaks the OCI grammar (a usage error).
    #[error("{0}")]
    InvalidReference(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("refused {path}: {reason}")]
    Unsafe { path: String, reason: String },
    #[error("{0}")]
    Registry(String),
    /// No connection to the registry `host`: refused, timed out, not resolved.
    #[error("cannot reach {host} ({reason})")]
    Unreachable { host: String, reason: String },
    /// Links of a package whose resolved targets leave it (`link -> target`).
    #[error("links that lead outside the package: {}; copy the files in, or ignore the links in .dkignore", .0.join(", "))]
    LinksOutside(Vec<String>),
    #[error("{reference} already names {existing}; this build is {built}: versions are immutable")]
    TagTaken {
        reference: String,
        existing: String,
        built: String,
    },
    #[error(
        "{reference} names {existing}, published to {registry}; this build is {built}: a published version is never replaced, not even with --force"
    )]
    TagPublished {
        reference: String,
        existing: String,
        built: String,
        registry: String,
    },
    #[error("{0}")]
    Credentials(String),
    /// An artifact of another kind than dk's.
    #[error(
        "{reference} is not a dk package: its artifactType is {} (config {config}); a dk package's is {}",
        artifact_type.as_deref().unwrap_or("not set"),
        layout::ARTIFACT_TYPE
    )]
    NotAPackage {
        reference: String,
        artifact_type: Option<String>,
        config: String,
    },
}

impl PackageError {
    pub fn io(path: &Path, source: std::io::Error) -> PackageError {
        PackageError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A refusal or failure of dk-fs (not a regular file, too large, a link) about `path`.
    pub fn fs(path: &Path, err: dk_fs::FsError) -> PackageError {
        match err {
            dk_fs::FsError::Io { source, .. } => PackageError::io(path, source),
            other => PackageError::Invalid(other.to_string()),
        }
    }
}
