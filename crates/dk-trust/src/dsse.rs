//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse>, protocol v1): the signature
//! covers `PAE(payloadType, payload)`, never the JSON around it, so the envelope can be
//! re-serialised freely and a signature cannot be moved to another payload type.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::TrustError;
use crate::keys::{PrivateKey, PublicKey};

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The media type of a DSSE envelope as an OCI layer (as cosign and the in-toto attestation
/// spec name it).
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// dk's envelopes hold a statement of a few KiB and a signature per key; anything larger is
/// refused unread.
pub const ENVELOPE_LIMIT: u64 = 1 << 20;
/// More signatures than any policy lists: an envelope with more is refused, so that checking
/// one is bounded work.
pub const SIGNATURE_LIMIT: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    /// Base64 (standard alphabet, padded).
    pub payload: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the signature: ASN.1 DER for ECDSA, 64 bytes for Ed25519.
    pub sig: String,
}

/// The pre-authentication encoding the signatures cover.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// An unsigned envelope of `payload`.
    pub fn new(payload_type: &str, payload: &[u8]) -> Envelope {
        Envelope {
            payload_type: payload_type.to_owned(),
            payload: STANDARD.encode(payload),
            signatures: Vec::new(),
        }
    }

    /// Reads an envelope, refusing more than [`ENVELOPE_LIMIT`] bytes or
    /// [`SIGNATURE_LIMIT`] signatures.
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope, TrustError> {
        if bytes.len() as u64 > ENVELOPE_LIMIT {
            return Err(TrustError::Invalid(format!(
                "the envelope is {} bytes, more than the {ENVELOPE_LIMIT} allowed",
                bytes.len()
            )));
        }
        let envelope: Envelope = serde_json::from_slice(bytes)
            .map_err(|err| TrustError::Invalid(format!("not a DSSE envelope: {err}")))?;
        if envelope.signatures.len() > SIGNATURE_LIMIT {
            return Err(TrustError::Invalid(format!(
                "the envelope has {} signatures, more than the {SIGNATURE_LIMIT} allowed",
                envelope.signatures.len()
            )));
        }
        Ok(envelope)
    }

    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serialises")
    }

    pub fn payload(&self) -> Result<Vec<u8>, TrustError> {
        STANDARD
            .decode(&self.payload)
            .map_err(|err| TrustError::Invalid(format!("the envelope's payload: {err}")))
    }

    /// Signs the envelope with `key`, replacing an earlier signature of the same key.
    pub fn sign(&mut self, key: &PrivateKey) -> Result<(), TrustError> {
        let message = pae(&self.payload_type, &self.payload()?);
        let keyid = key.public_key().key_id();
        let sig = STANDARD.encode(key.sign(&message)?);
        self.signatures.retain(|s| s.keyid != keyid);
        self.signatures.push(Signature { keyid, sig });
        Ok(())
    }

    /// The ids of the `keys` that signed this envelope. A signature is tried against every key
    /// (its `keyid` is a hint, not trusted), and each key counts once.
    pub fn signed_by(&self, keys: &[PublicKey]) -> Result<Vec<String>, TrustError> {
        let message = pae(&self.payload_type, &self.payload()?);
        let signatures: Vec<Vec<u8>> = self
            .signatures
            .iter()
            .filter_map(|s| STANDARD.decode(&s.sig).ok())
            .collect();
        let mut ids: Vec<String> = keys
            .iter()
            .filter(|key| signatures.iter().any(|sig| key.verifies(&message, sig)))
            .map(PublicKey::key_id)
            .collect();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, generate};

    #[test]
    fn pae_follows_the_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_signature_verifies_only_its_payload_and_type() {
        let (pem, public) = generate(Algorithm::EcdsaP256, None).unwrap();
        let key = PrivateKey::from_pem(&pem, None).unwrap();
        let mut envelope = Envelope::new(IN_TOTO_PAYLOAD_TYPE, b"{}");
        envelope.sign(&key).unwrap();
        envelope.sign(&key).unwrap();
        assert_eq!(envelope.signatures.len(), 1, "re-signing replaces");
        let keys = [public.clone()];
        assert_eq!(envelope.signed_by(&keys).unwrap(), vec![public.key_id()]);
        let mut retyped = envelope.clone();
        retyped.payload_type = "text/plain".into();
        assert!(retyped.signed_by(&keys).unwrap().is_empty());
        let mut tampered = envelope.clone();
        tampered.payload = STANDARD.encode(b"{ }");
        assert!(tampered.signed_by(&keys).unwrap().is_empty());
    }
}
