//! Verification of an artifact against trusted keys: its signature and its provenance, each a
//! DSSE envelope signed by one of the keys, whose statement names the artifact's digest.

use serde::Serialize;

use crate::TrustError;
use crate::attach::{Attachments, Kind};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::keys::PublicKey;
use crate::provenance::{
    BUILD_TYPE, PROVENANCE_PREDICATE, SIGNATURE_PREDICATE, STATEMENT_TYPE, Statement, builder_of,
};

/// What was verified.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationReport {
    /// The artifact's manifest digest, which both statements name.
    pub subject: String,
    /// The ids (SHA-256 of the SPKI, hex) of the trusted keys that signed the artifact.
    pub signature_keys: Vec<String>,
    /// The ids of the trusted keys that signed the provenance.
    pub provenance_keys: Vec<String>,
    /// `runDetails.builder.id` of the provenance.
    pub builder: Option<String>,
    /// The builder the policy required, when it required one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_builder: Option<String>,
    /// `buildDefinition.resolvedDependencies`' git commit, and whether the tree was dirty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_dirty: Option<bool>,
    /// `runDetails.builder.version.dk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dk_version: Option<String>,
}

/// Verifies the artifact `digest` (`sha256:<hex>`) with its `attachments` against `keys` (any
/// one of them suffices for each envelope) and, when given, the builder id its provenance must
/// name. Every problem found is reported at once in [`TrustError::Refused`].
pub fn verify(
    digest: &str,
    attachments: &Attachments,
    keys: &[PublicKey],
    required_builder: Option<&str>,
) -> Result<VerificationReport, TrustError> {
    if keys.is_empty() {
        return Err(TrustError::Usage("no public key to verify with".into()));
    }
    let mut problems = Vec::new();
    let mut report = VerificationReport {
        subject: digest.to_owned(),
        signature_keys: Vec::new(),
        provenance_keys: Vec::new(),
        builder: None,
        required_builder: required_builder.map(str::to_owned),
        source_commit: None,
        source_dirty: None,
        dk_version: None,
    };
    if let Some((statement, signers)) = check(
        digest,
        attachments.get(Kind::Signature),
        Kind::Signature,
        keys,
        &mut problems,
    ) {
        if statement.predicate_type != SIGNATURE_PREDICATE {
            problems.push(format!(
                "the signature's predicateType is `{}`, not `{SIGNATURE_PREDICATE}`",
                statement.predicate_type
            ));
        }
        report.signature_keys = signers;
    }
    if let Some((statement, signers)) = check(
        digest,
        attachments.get(Kind::Attestation),
        Kind::Attestation,
        keys,
        &mut problems,
    ) {
        report.provenance_keys = signers;
        if statement.predicate_type != PROVENANCE_PREDICATE {
            problems.push(format!(
                "the attestation's predicateType is `{}`, not `{PROVENANCE_PREDICATE}`",
                statement.predicate_type
            ));
        }
        let predicate = &statement.predicate;
        let build_type = predicate
            .pointer("/buildDefinition/buildType")
            .and_then(|v| v.as_str());
        if build_type != Some(BUILD_TYPE) {
            problems.push(format!(
                "the provenance's buildType is {}, not `{BUILD_TYPE}`",
                build_type.map_or("missing".into(), |t| format!("`{t}`"))
            ));
        }
        report.builder = builder_of(&statement).map(str::to_owned);
        let git = predicate
            .pointer("/buildDefinition/resolvedDependencies")
            .and_then(|v| v.as_array())
            .and_then(|deps| {
                deps.iter()
                    .find(|d| d.pointer("/digest/gitCommit").is_some())
            });
        report.source_commit = git
            .and_then(|d| d.pointer("/digest/gitCommit"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        report.source_dirty = git
            .and_then(|d| d.pointer("/annotations/dirty"))
            .and_then(|v| v.as_bool());
        report.dk_version = predicate
            .pointer("/runDetails/builder/version/dk")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if let Some(required) = required_builder
            && report.builder.as_deref() != Some(required)
        {
            problems.push(format!(
                "the provenance names builder {}, not the required `{required}`",
                report
                    .builder
                    .as_deref()
                    .map_or("none".into(), |b| format!("`{b}`"))
            ));
        }
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(TrustError::Refused(problems))
    }
}

/// Checks one envelope: present, an in-toto statement v1 naming `digest`, signed by one of
/// `keys`. Returns its statement and signers when it could be read.
fn check(
    digest: &str,
    envelope: Option<&Envelope>,
    kind: Kind,
    keys: &[PublicKey],
    problems: &mut Vec<String>,
) -> Option<(Statement, Vec<String>)> {
    let what = match kind {
        Kind::Signature => "signature",
        Kind::Attestation => "provenance attestation",
    };
    let Some(envelope) = envelope else {
        problems.push(format!(
            "no {what} (sha256-….{}): {}",
            match kind {
                Kind::Signature => "sig",
                Kind::Attestation => "att",
            },
            match kind {
                Kind::Signature => "sign it with `dk sign REF --key KEY`",
                Kind::Attestation => "build it with `dk build`, then `dk sign`",
            }
        ));
        return None;
    };
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        problems.push(format!(
            "the {what}'s payloadType is `{}`, not `{IN_TOTO_PAYLOAD_TYPE}`",
            envelope.payload_type
        ));
        return None;
    }
    let signers = match envelope.signed_by(keys) {
        Ok(signers) => signers,
        Err(err) => {
            problems.push(format!("the {what}: {err}"));
            return None;
        }
    };
    if signers.is_empty() {
        problems.push(if envelope.signatures.is_empty() {
            format!("the {what} is not signed")
        } else {
            format!(
                "the {what} is signed by none of the given keys ({} signature(s) by key id {})",
                envelope.signatures.len(),
                envelope
                    .signatures
                    .iter()
                    .map(|s| s.keyid.chars().take(16).collect::<String>())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    let statement = match envelope.payload().and_then(|p| Statement::from_slice(&p)) {
        Ok(statement) => statement,
        Err(err) => {
            problems.push(format!("the {what}: {err}"));
            return None;
        }
    };
    if statement.statement_type != STATEMENT_TYPE {
        problems.push(format!(
            "the {what}'s _type is `{}`, not `{STATEMENT_TYPE}`",
            statement.statement_type
        ));
    }
    if !statement.names(digest) {
        problems.push(format!(
            "the {what} is for another artifact: its subject is {}, this artifact is {digest}",
            statement
                .subject
                .iter()
                .filter_map(|s| s.digest.get("sha256"))
                .map(|d| format!("sha256:{d}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Some((statement, signers))
}
