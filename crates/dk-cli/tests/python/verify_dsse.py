"""An independent verifier of what dk signs, using only the in-toto and securesystemslib
libraries (and cryptography under them).

usage:
  verify_dsse.py envelope ENVELOPE.json KEY.pub DIGEST PREDICATE_TYPE
      exit 0 when the DSSE envelope is signed by KEY.pub (keyid: SHA-256 of the SPKI DER) and
      its in-toto Statement v1 names DIGEST with PREDICATE_TYPE; 1 with the reason otherwise.
  verify_dsse.py private-key KEY.key PASSWORD|-
      exit 0 when cryptography opens dk's PKCS#8 key (encrypted unless PASSWORD is -).
"""

import hashlib
import json
import sys

from cryptography.hazmat.primitives import serialization
from in_toto.models.metadata import Envelope, Metadata
from securesystemslib.signer import SSlibKey


def refuse(reason):
    print(f"refused: {reason}", file=sys.stderr)
    sys.exit(1)


def envelope(path, key_path, digest, predicate_type):
    with open(key_path, "rb") as f:
        public = serialization.load_pem_public_key(f.read())
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = SSlibKey.from_crypto(public, keyid=hashlib.sha256(spki).hexdigest())
    try:
        # An envelope whose payloadType is not in-toto's is not in-toto metadata.
        metadata = Metadata.load(path)
    except Exception as err:
        refuse(f"not in-toto metadata: {type(err).__name__}")
    if not isinstance(metadata, Envelope):
        refuse("not a DSSE envelope")
    try:
        metadata.verify([key], 1)
    except Exception as err:  # securesystemslib's VerificationError and its kin
        refuse(f"signature: {err}")
    statement = json.loads(metadata.payload)
    if statement.get("_type") != "https://in-toto.io/Statement/v1":
        refuse(f"_type {statement.get('_type')}")
    if statement.get("predicateType") != predicate_type:
        refuse(f"predicateType {statement.get('predicateType')}")
    hexdigest = digest.removeprefix("sha256:")
    if not any(s.get("digest", {}).get("sha256") == hexdigest for s in statement["subject"]):
        refuse(f"subject {statement['subject']}")
    print("verified")


def private_key(path, password):
    with open(path, "rb") as f:
        pem = f.read()
    secret = None if password == "-" else password.encode()
    serialization.load_pem_private_key(pem, password=secret)
    print("loaded")


if __name__ == "__main__":
    if sys.argv[1] == "envelope":
        envelope(*sys.argv[2:6])
    elif sys.argv[1] == "private-key":
        private_key(*sys.argv[2:4])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
