//! Signatures and attestations beside the artifact, named by the OCI referrers tag schema: in
//! the artifact's repository, `sha256-<hex>.sig` holds the DSSE envelope signing the artifact and
//! `sha256-<hex>.att` the one of its provenance. Each is a small OCI artifact (an empty config,
//! one envelope layer, `subject` the artifact), so every registry stores it, including those
//! without the referrers API, and `dk publish` pushes it as it pushes a package.

use std::collections::BTreeMap;

use serde_json::json;

use dk_package::layout::{Descriptor, Layout, MANIFEST_MEDIA_TYPE, digest_hex};
use dk_package::reference::RemoteRef;
use dk_package::registry::Registry;

use crate::TrustError;
use crate::dsse::{ENVELOPE_LIMIT, ENVELOPE_MEDIA_TYPE, Envelope};

pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.infoblox.dk.signature.v1";
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.infoblox.dk.attestation.v1";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// Which attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.sig`: the artifact's signature.
    Signature,
    /// `.att`: its provenance.
    Attestation,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Signature, Kind::Attestation];

    fn suffix(self) -> &'static str {
        match self {
            Kind::Signature => "sig",
            Kind::Attestation => "att",
        }
    }

    fn artifact_type(self) -> &'static str {
        match self {
            Kind::Signature => SIGNATURE_ARTIFACT_TYPE,
            Kind::Attestation => ATTESTATION_ARTIFACT_TYPE,
        }
    }
}

/// The referrers-schema tag of `kind` for the artifact `digest`: `sha256-<hex>.sig`.
pub fn tag_of(digest: &str, kind: Kind) -> Result<String, TrustError> {
    let hex = digest_hex(digest).map_err(|err| TrustError::Invalid(err.to_string()))?;
    Ok(format!("sha256-{hex}.{}", kind.suffix()))
}

/// The artifact's signature and provenance envelopes, where they were found.
#[derive(Debug, Clone, Default)]
pub struct Attachments {
    pub signature: Option<Envelope>,
    pub attestation: Option<Envelope>,
}

impl Attachments {
    pub fn get(&self, kind: Kind) -> Option<&Envelope> {
        match kind {
            Kind::Signature => self.signature.as_ref(),
            Kind::Attestation => self.attestation.as_ref(),
        }
    }

    fn set(&mut self, kind: Kind, envelope: Envelope) {
        match kind {
            Kind::Signature => self.signature = Some(envelope),
            Kind::Attestation => self.attestation = Some(envelope),
        }
    }

    /// The attachments of the artifact `digest` of the repository `name` (`namespace/name`) in
    /// the local layout.
    pub fn from_layout(layout: &Layout, name: &str, digest: &str) -> Result<Self, TrustError> {
        let mut found = Attachments::default();
        for kind in Kind::ALL {
            if let Some(envelope) = read_local(layout, name, digest, kind)? {
                found.set(kind, envelope);
            }
        }
        Ok(found)
    }

    /// The attachments of the artifact `digest` in the repository of `target`, read from the
    /// registry (their blobs are kept in `layout`, verified).
    pub async fn from_registry(
        registry: &Registry,
        target: &RemoteRef,
        digest: &str,
        layout: &Layout,
    ) -> Result<Self, TrustError> {
        let mut found = Attachments::default();
        for kind in Kind::ALL {
            if let Some(descriptor) = fetch(registry, target, digest, kind, layout).await? {
                found.set(kind, read_envelope(layout, &descriptor)?);
            }
        }
        Ok(found)
    }
}

/// The local name of an attachment: `namespace/name:sha256-<hex>.sig`.
fn local_name(name: &str, digest: &str, kind: Kind) -> Result<String, TrustError> {
    Ok(format!("{name}:{}", tag_of(digest, kind)?))
}

fn package(err: dk_package::PackageError) -> TrustError {
    TrustError::from(err)
}

fn read_local(
    layout: &Layout,
    name: &str,
    digest: &str,
    kind: Kind,
) -> Result<Option<Envelope>, TrustError> {
    let Some(descriptor) = layout
        .find(&local_name(name, digest, kind)?)
        .map_err(package)?
    else {
        return Ok(None);
    };
    read_envelope(layout, &descriptor).map(Some)
}

/// The envelope layer of the attachment manifest `descriptor`, verified and size-capped.
fn read_envelope(layout: &Layout, descriptor: &Descriptor) -> Result<Envelope, TrustError> {
    let (manifest, _) = layout.manifest(descriptor).map_err(package)?;
    let layer = envelope_layer(&manifest.layers)?;
    Envelope::from_slice(
        &layout
            .read_blob(&layer.digest, Some(layer.size))
            .map_err(package)?,
    )
}

fn envelope_layer(layers: &[Descriptor]) -> Result<&Descriptor, TrustError> {
    let layer = layers
        .iter()
        .find(|l| l.media_type == ENVELOPE_MEDIA_TYPE)
        .ok_or_else(|| TrustError::Invalid("the attachment holds no DSSE envelope".into()))?;
    if layer.size > ENVELOPE_LIMIT {
        return Err(TrustError::Invalid(format!(
            "the attachment's envelope declares {} bytes, more than the {ENVELOPE_LIMIT} allowed",
            layer.size
        )));
    }
    Ok(layer)
}

/// Stores `envelope` as the `kind` attachment of the artifact `subject` of the repository
/// `name`, replacing an earlier one. Returns the attachment's descriptor.
pub fn store(
    layout: &Layout,
    name: &str,
    subject: &Descriptor,
    kind: Kind,
    envelope: &Envelope,
) -> Result<Descriptor, TrustError> {
    let (config_digest, config_size) = layout.put_blob(b"{}").map_err(package)?;
    let (layer_digest, layer_size) = layout.put_blob(&envelope.to_vec()).map_err(package)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": kind.artifact_type(),
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": [{
            "mediaType": ENVELOPE_MEDIA_TYPE,
            "digest": layer_digest,
            "size": layer_size,
        }],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        },
    });
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serialises");
    let (digest, size) = layout.put_blob(&bytes).map_err(package)?;
    let descriptor = Descriptor {
        media_type: MANIFEST_MEDIA_TYPE.to_owned(),
        digest,
        size,
        artifact_type: Some(kind.artifact_type().to_owned()),
        annotations: BTreeMap::new(),
    };
    layout
        .tag(&local_name(name, &subject.digest, kind)?, &descriptor, true)
        .map_err(package)?;
    Ok(descriptor)
}

/// The local descriptor of the `kind` attachment of the artifact `digest`, when there is one.
pub fn find(
    layout: &Layout,
    name: &str,
    digest: &str,
    kind: Kind,
) -> Result<Option<Descriptor>, TrustError> {
    layout
        .find(&local_name(name, digest, kind)?)
        .map_err(package)
}

/// The registry reference of an attachment, in the repository of `target`.
pub fn remote_of(target: &RemoteRef, digest: &str, kind: Kind) -> Result<RemoteRef, TrustError> {
    Ok(RemoteRef {
        registry: target.registry.clone(),
        repository: target.repository.clone(),
        tag: Some(tag_of(digest, kind)?),
        digest: None,
    })
}

/// Downloads the `kind` attachment of the artifact `digest` from the repository of `target`
/// into `layout` (blobs only, verified); `None` when the registry has none.
pub async fn fetch(
    registry: &Registry,
    target: &RemoteRef,
    digest: &str,
    kind: Kind,
    layout: &Layout,
) -> Result<Option<Descriptor>, TrustError> {
    let remote = remote_of(target, digest, kind)?;
    if registry
        .digest_of(&remote)
        .await
        .map_err(package)?
        .is_none()
    {
        return Ok(None);
    }
    let (manifest, bytes, manifest_digest) = registry.manifest(&remote).await.map_err(package)?;
    let layer = envelope_layer(&manifest.layers)?.clone();
    let noop: dk_package::registry::Progress = std::sync::Arc::new(|_| {});
    registry
        .fetch_blobs(&remote, &[&layer], ENVELOPE_LIMIT, layout, &noop)
        .await
        .map_err(package)?;
    let (_, size) = layout.put_blob(&bytes).map_err(package)?;
    let descriptor = Descriptor {
        media_type: MANIFEST_MEDIA_TYPE.to_owned(),
        digest: manifest_digest,
        size,
        artifact_type: Some(kind.artifact_type().to_owned()),
        annotations: BTreeMap::new(),
    };
    Ok(Some(descriptor))
}

/// Names a fetched attachment in the local layout, beside the artifact `digest` of `name`.
fn keep(
    layout: &Layout,
    name: &str,
    digest: &str,
    kind: Kind,
    descriptor: &Descriptor,
) -> Result<(), TrustError> {
    layout
        .tag(&local_name(name, digest, kind)?, descriptor, true)
        .map(drop)
        .map_err(package)
}

/// Pushes the local attachments of the artifact `digest` of `name` to the repository of
/// `target`, each under its referrers tag (replacing what the registry had there: a signature
/// gains signatures). Returns the tags pushed.
pub async fn push(
    registry: &Registry,
    layout: &Layout,
    name: &str,
    digest: &str,
    target: &RemoteRef,
) -> Result<Vec<String>, TrustError> {
    let noop: dk_package::registry::Progress = std::sync::Arc::new(|_| {});
    let mut pushed = Vec::new();
    for kind in Kind::ALL {
        let Some(descriptor) = find(layout, name, digest, kind)? else {
            continue;
        };
        let remote = remote_of(target, digest, kind)?;
        registry
            .push(layout, &descriptor, &remote, &noop)
            .await
            .map_err(package)?;
        pushed.push(tag_of(digest, kind)?);
    }
    Ok(pushed)
}

/// Downloads the attachments the registry has for the artifact `digest` of `target` and names
/// them in the local layout beside `name`. Returns the tags found.
pub async fn pull(
    registry: &Registry,
    layout: &Layout,
    name: &str,
    digest: &str,
    target: &RemoteRef,
) -> Result<Vec<String>, TrustError> {
    let mut pulled = Vec::new();
    for kind in Kind::ALL {
        if let Some(descriptor) = fetch(registry, target, digest, kind, layout).await? {
            read_envelope(layout, &descriptor)?;
            keep(layout, name, digest, kind, &descriptor)?;
            pulled.push(tag_of(digest, kind)?);
        }
    }
    Ok(pulled)
}
