//! Signed provenance of dk packages: what a build states about an artifact (SLSA v1 provenance
//! as an in-toto Statement, [`provenance`]), DSSE signatures ([`dsse`]) with ECDSA P-256 or
//! Ed25519 keys ([`keys`]), stored beside the artifact under the OCI referrers tag schema
//! ([`attach`]) and verified against trusted keys ([`verify()`]).

use std::path::PathBuf;

use dk_package::PackageError;
use dk_package::layout::{Descriptor, Layout};

pub mod attach;
pub mod dsse;
pub mod keys;
pub mod provenance;
mod verify;

pub use attach::{Attachments, Kind};
pub use keys::{Algorithm, PrivateKey, PublicKey};
pub use verify::{VerificationReport, verify};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The checks failed: each entry says what is missing or wrong.
    #[error("verification failed: {}", .0.join("; "))]
    Refused(Vec<String>),
    /// A key that cannot be used (malformed, another algorithm).
    #[error("{0}")]
    Key(String),
    /// A key file that must not be used as it is (a link, loose mode, too large).
    #[error("{0}")]
    KeyFile(String),
    /// An encrypted key without its password, or with a wrong one.
    #[error("{0}")]
    Password(String),
    #[error("{} exists: a key is never overwritten", .0.display())]
    Exists(PathBuf),
    /// A malformed envelope, statement or attachment.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Package(#[from] PackageError),
}

impl TrustError {
    /// Whether an external system (the registry) failed, rather than the artifact or the keys.
    pub fn is_external(&self) -> bool {
        matches!(
            self,
            TrustError::Package(PackageError::Unreachable { .. } | PackageError::Registry(_))
        )
    }
}

/// Records the provenance `statement` of the artifact `subject` of the repository `name`
/// (`namespace/name`) as its `.att`, unsigned. An attestation of the same statement is kept as
/// it is, with its signatures.
pub fn record_provenance(
    layout: &Layout,
    name: &str,
    subject: &Descriptor,
    statement: &provenance::Statement,
) -> Result<(), TrustError> {
    let payload = statement.to_vec();
    let existing = Attachments::from_layout(layout, name, &subject.digest)
        .ok()
        .and_then(|found| found.attestation);
    if existing.is_some_and(|envelope| envelope.payload().ok().as_deref() == Some(&payload)) {
        return Ok(());
    }
    attach::store(
        layout,
        name,
        subject,
        Kind::Attestation,
        &dsse::Envelope::new(dsse::IN_TOTO_PAYLOAD_TYPE, &payload),
    )?;
    Ok(())
}

/// What `sign` signed.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Signed {
    pub subject: String,
    pub key_id: String,
    pub algorithm: Algorithm,
    /// The attachments' local digests.
    pub signature: String,
    pub attestation: String,
}

/// Signs the artifact `subject` of the repository `name` with `key`: its `.sig` (a statement
/// naming the digest) and its provenance `.att`, each gaining (or replacing) this key's
/// signature. The provenance must be there: `dk build` writes it.
pub fn sign(
    layout: &Layout,
    name: &str,
    subject: &Descriptor,
    key: &PrivateKey,
) -> Result<Signed, TrustError> {
    let found = Attachments::from_layout(layout, name, &subject.digest)?;
    let Some(mut attestation) = found.attestation else {
        return Err(TrustError::Refused(vec![format!(
            "{name}@{} has no provenance: build it again with this dk (`dk build`), which records it",
            subject.digest
        )]));
    };
    let mut signature = found.signature.unwrap_or_else(|| {
        dsse::Envelope::new(
            dsse::IN_TOTO_PAYLOAD_TYPE,
            &provenance::signature_statement(name, &subject.digest).to_vec(),
        )
    });
    // The provenance is dk's own statement; a stored one that names another artifact was
    // tampered with and is not signed.
    let statement = provenance::Statement::from_slice(&attestation.payload()?)?;
    if !statement.names(&subject.digest) {
        return Err(TrustError::Refused(vec![format!(
            "the stored provenance of {name} names another artifact than {}: not signed",
            subject.digest
        )]));
    }
    signature.sign(key)?;
    attestation.sign(key)?;
    let signature = attach::store(layout, name, subject, Kind::Signature, &signature)?;
    let attestation = attach::store(layout, name, subject, Kind::Attestation, &attestation)?;
    Ok(Signed {
        subject: subject.digest.clone(),
        key_id: key.public_key().key_id(),
        algorithm: key.public_key().algorithm(),
        signature: signature.digest,
        attestation: attestation.digest,
    })
}
