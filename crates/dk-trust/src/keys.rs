//! Signing keys: ECDSA P-256 (SHA-256, ASN.1 DER signatures) or Ed25519. Private keys are PKCS#8
//! PEM, encrypted (PBES2: scrypt + AES-256-CBC) when a password is given; public keys are SPKI
//! PEM. A key's id is the SHA-256 of its SPKI DER, in hex.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use pkcs8::der::{Decode, pem::LineEnding};
use pkcs8::{EncryptedPrivateKeyInfo, ObjectIdentifier, PrivateKeyInfo, SubjectPublicKeyInfoRef};
use sha2::{Digest, Sha256};

use crate::TrustError;

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The fixed DER head of an SPKI of each algorithm: what precedes the raw public key.
const P256_SPKI_HEAD: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const ED25519_SPKI_HEAD: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Key files are a few hundred bytes; anything much larger is not one.
const KEY_FILE_LIMIT: u64 = 64 << 10;

/// scrypt cost of encrypted keys: N = 2^14, r = 8, p = 1 (16 MiB), within OpenSSL's default
/// memory cap so that `openssl pkey` and Python's `cryptography` open dk's keys too.
const SCRYPT_LOG_N: u8 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub enum Algorithm {
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl Algorithm {
    pub const NAMES: &[&str] = &["ecdsa-p256", "ed25519"];

    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "ecdsa-p256" | "ecdsa" | "p256" => Some(Algorithm::EcdsaP256),
            "ed25519" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// A public key: its algorithm and SPKI DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: Algorithm,
    spki: Vec<u8>,
}

impl PublicKey {
    /// Reads an SPKI PEM (`-----BEGIN PUBLIC KEY-----`) of a P-256 or Ed25519 key.
    pub fn from_pem(text: &str) -> Result<PublicKey, TrustError> {
        let bad = |why: String| TrustError::Key(format!("not a public key PEM: {why}"));
        let (label, document) =
            pkcs8::Document::from_pem(text.trim()).map_err(|err| bad(err.to_string()))?;
        if label != "PUBLIC KEY" {
            return Err(bad(format!(
                "it is a `{label}` (give the .pub file, never the private key)"
            )));
        }
        PublicKey::from_spki_der(document.as_bytes())
    }

    /// Reads an SPKI DER.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, TrustError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|err| TrustError::Key(format!("not a SubjectPublicKeyInfo: {err}")))?;
        let raw = spki.subject_public_key.raw_bytes();
        let algorithm = match (spki.algorithm.oid, spki.algorithm.parameters_oid().ok()) {
            (EC_PUBLIC_KEY, Some(PRIME256V1)) if raw.len() == 65 => Algorithm::EcdsaP256,
            (ED25519, _) if raw.len() == 32 => Algorithm::Ed25519,
            (oid, _) => {
                return Err(TrustError::Key(format!(
                    "unsupported key algorithm {oid}: dk signs with ECDSA P-256 or Ed25519"
                )));
            }
        };
        Ok(PublicKey::from_raw(algorithm, raw))
    }

    fn from_raw(algorithm: Algorithm, raw: &[u8]) -> PublicKey {
        let head = match algorithm {
            Algorithm::EcdsaP256 => P256_SPKI_HEAD,
            Algorithm::Ed25519 => ED25519_SPKI_HEAD,
        };
        PublicKey {
            algorithm,
            spki: [head, raw].concat(),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// SHA-256 of the SPKI DER, hex: the `keyid` of dk's DSSE signatures.
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(&self.spki))
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    pub fn to_pem(&self) -> String {
        pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.spki)
            .expect("an SPKI encodes as PEM")
    }

    /// The raw key: an uncompressed point (P-256) or 32 bytes (Ed25519).
    fn raw(&self) -> &[u8] {
        match self.algorithm {
            Algorithm::EcdsaP256 => &self.spki[P256_SPKI_HEAD.len()..],
            Algorithm::Ed25519 => &self.spki[ED25519_SPKI_HEAD.len()..],
        }
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn signature::VerificationAlgorithm = match self.algorithm {
            Algorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            Algorithm::Ed25519 => &signature::ED25519,
        };
        UnparsedPublicKey::new(algorithm, self.raw())
            .verify(message, signature)
            .is_ok()
    }
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key, able to sign. Its material is never printed (no `Debug` of it).
pub struct PrivateKey {
    pair: Pair,
    public: PublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.public.algorithm)
            .field("key_id", &self.public.key_id())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Reads a PKCS#8 PEM: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with `password`.
    pub fn from_pem(text: &str, password: Option<&str>) -> Result<PrivateKey, TrustError> {
        let bad = |why: String| TrustError::Key(format!("not a PKCS#8 private key PEM: {why}"));
        let (label, document) =
            pkcs8::SecretDocument::from_pem(text.trim()).map_err(|err| bad(err.to_string()))?;
        let plain = match label {
            "PRIVATE KEY" => document,
            "ENCRYPTED PRIVATE KEY" => {
                let Some(password) = password else {
                    return Err(TrustError::Password(
                        "the key is encrypted and no password was given".into(),
                    ));
                };
                let encrypted = EncryptedPrivateKeyInfo::try_from(document.as_bytes())
                    .map_err(|err| bad(err.to_string()))?;
                encrypted
                    .decrypt(password)
                    .map_err(|_| TrustError::Password("wrong password, or a damaged key".into()))?
            }
            other => return Err(bad(format!("it is a `{other}`"))),
        };
        PrivateKey::from_pkcs8_der(plain.as_bytes())
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, TrustError> {
        let info = PrivateKeyInfo::try_from(der)
            .map_err(|err| TrustError::Key(format!("not a PKCS#8 private key: {err}")))?;
        let rejected = |err: aws_lc_rs::error::KeyRejected| {
            TrustError::Key(format!("the private key is refused: {err}"))
        };
        let pair = match info.algorithm.oid {
            EC_PUBLIC_KEY => Pair::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der)
                    .map_err(rejected)?,
            ),
            ED25519 => {
                Pair::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?)
            }
            oid => {
                return Err(TrustError::Key(format!(
                    "unsupported key algorithm {oid}: dk signs with ECDSA P-256 or Ed25519"
                )));
            }
        };
        let public = match &pair {
            Pair::Ecdsa(pair) => {
                PublicKey::from_raw(Algorithm::EcdsaP256, pair.public_key().as_ref())
            }
            Pair::Ed25519(pair) => {
                PublicKey::from_raw(Algorithm::Ed25519, pair.public_key().as_ref())
            }
        };
        Ok(PrivateKey { pair, public })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TrustError> {
        match &self.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| TrustError::Key("signing failed".into())),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// A new key pair: the private key's PKCS#8 PEM (encrypted with `password` when given) and the
/// public key.
pub fn generate(
    algorithm: Algorithm,
    password: Option<&str>,
) -> Result<(pkcs8::der::zeroize::Zeroizing<String>, PublicKey), TrustError> {
    let rng = SystemRandom::new();
    let failed = |_| TrustError::Key("cannot generate a key".into());
    let document = match algorithm {
        Algorithm::EcdsaP256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .map_err(failed)?
        }
        // Version 1 (no public key inside): OpenSSL and Python's cryptography refuse the
        // version 2 structure that `generate_pkcs8` writes.
        Algorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(failed)?,
    };
    let der = document.as_ref();
    let public = PrivateKey::from_pkcs8_der(der)?.public.clone();
    fn encode(err: impl std::fmt::Display) -> TrustError {
        TrustError::Key(format!("cannot encode the key: {err}"))
    }
    let pem = match password {
        None => pkcs8::SecretDocument::try_from(der)
            .map_err(encode)?
            .to_pem("PRIVATE KEY", LineEnding::LF)
            .map_err(encode)?,
        Some(password) => {
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            rng.fill(&mut salt).map_err(failed)?;
            rng.fill(&mut iv).map_err(failed)?;
            let params = pkcs8::pkcs5::scrypt::Params::new(SCRYPT_LOG_N, 8, 1, 32)
                .expect("valid scrypt parameters");
            let pbes2 = pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv)
                .map_err(encode)?;
            PrivateKeyInfo::try_from(der)
                .map_err(encode)?
                .encrypt_with_params(pbes2, password)
                .map_err(encode)?
                .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                .map_err(encode)?
        }
    };
    Ok((pem, public))
}

/// `NAME.key` and `NAME.pub` of a key pair named `name` (a path without extension).
pub fn key_pair_paths(name: &Path) -> (PathBuf, PathBuf) {
    let with = |extension: &str| {
        let mut path = name.as_os_str().to_owned();
        path.push(extension);
        PathBuf::from(path)
    };
    (with(".key"), with(".pub"))
}

/// Writes `NAME.key` (mode 0600) and `NAME.pub`, each atomically and never over an existing file
/// (nor a link); when the public key cannot be written, the private key is removed again.
pub fn write_key_pair(
    name: &Path,
    private_pem: &str,
    public: &PublicKey,
) -> Result<(PathBuf, PathBuf), TrustError> {
    let (key, public_path) = key_pair_paths(name);
    for path in [&key, &public_path] {
        if path.symlink_metadata().is_ok() {
            return Err(TrustError::Exists(path.clone()));
        }
    }
    write_new(&key, private_pem.as_bytes(), 0o600)?;
    if let Err(err) = write_new(&public_path, public.to_pem().as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&key);
        return Err(err);
    }
    Ok((key, public_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TrustError> {
    let fs = |err: dk_fs::FsError| TrustError::Io(err.to_string());
    let mut file = dk_fs::AtomicFile::create(path).map_err(fs)?;
    file.set_mode(mode).map_err(fs)?;
    file.write_all(bytes)
        .map_err(|err| TrustError::Io(format!("{}: {err}", path.display())))?;
    file.commit_new().map_err(|err| match err.io_kind() {
        Some(std::io::ErrorKind::AlreadyExists) => TrustError::Exists(path.to_owned()),
        _ => fs(err),
    })
}

/// The text of a private key file: a regular file, not a link, readable by its owner only (as
/// ssh requires of its keys: a key others can read may be someone else's key now).
pub fn read_private_key_file(path: &Path) -> Result<String, TrustError> {
    use rustix::fs::{FileType, Mode, OFlags};
    let io = |err: rustix::io::Errno| {
        if err == rustix::io::Errno::LOOP {
            TrustError::KeyFile(format!(
                "{} is a symbolic link: give the key file itself",
                path.display()
            ))
        } else {
            TrustError::KeyFile(format!("{}: {}", path.display(), std::io::Error::from(err)))
        }
    };
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(io)?;
    let stat = rustix::fs::fstat(&fd).map_err(io)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(TrustError::KeyFile(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mode = stat.st_mode & 0o777;
    if mode & 0o077 != 0 {
        return Err(TrustError::KeyFile(format!(
            "{} is readable by others (mode {mode:04o}): chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    read_text(std::fs::File::from(fd), path)
}

/// The text of a public key file (links followed: a public key is no secret).
pub fn read_public_key_file(path: &Path) -> Result<PublicKey, TrustError> {
    let (file, _) = dk_fs::open_regular(path, KEY_FILE_LIMIT)
        .map_err(|err| TrustError::KeyFile(err.to_string()))?;
    PublicKey::from_pem(&read_text(file, path)?)
        .map_err(|err| TrustError::KeyFile(format!("{}: {err}", path.display())))
}

fn read_text(file: std::fs::File, path: &Path) -> Result<String, TrustError> {
    use std::io::Read;
    let mut text = String::new();
    file.take(KEY_FILE_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|err| TrustError::KeyFile(format!("{}: {err}", path.display())))?;
    if text.len() as u64 > KEY_FILE_LIMIT {
        return Err(TrustError::KeyFile(format!(
            "{} is larger than {KEY_FILE_LIMIT} bytes: not a key",
            path.display()
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_sign_and_verify_for_both_algorithms() {
        for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            for password in [None, Some("correct horse")] {
                let (pem, public) = generate(algorithm, password).unwrap();
                let private = PrivateKey::from_pem(&pem, password).unwrap();
                assert_eq!(private.public_key(), &public);
                let again = PublicKey::from_pem(&public.to_pem()).unwrap();
                assert_eq!(again, public);
                let signature = private.sign(b"message").unwrap();
                assert!(public.verifies(b"message", &signature));
                assert!(!public.verifies(b"messagE", &signature));
                assert_eq!(public.key_id().len(), 64);
            }
        }
    }

    #[test]
    fn an_encrypted_key_needs_the_right_password() {
        let (pem, _) = generate(Algorithm::Ed25519, Some("right")).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(matches!(
            PrivateKey::from_pem(&pem, Some("wrong")),
            Err(TrustError::Password(_))
        ));
        assert!(matches!(
            PrivateKey::from_pem(&pem, None),
            Err(TrustError::Password(_))
        ));
    }

    #[test]
    fn a_private_key_is_not_a_public_key() {
        let (pem, _) = generate(Algorithm::EcdsaP256, None).unwrap();
        let err = PublicKey::from_pem(&pem).unwrap_err().to_string();
        assert!(err.contains("never the private key"), "{err}");
    }
}
