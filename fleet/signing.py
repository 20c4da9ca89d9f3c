"""Job envelopes: their canonical bytes, Ed25519 signatures, and the key files.

The private key is read only where jobs are created (the dispatching worker, and
``manage.py fleet_keygen``); the web process serves only public keys (``SigningKey``)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings


class SigningKeyMissing(RuntimeError):
    """No private key file: run ``manage.py fleet_keygen`` where the worker runs."""


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes that are signed and hashed (docs/agent.md: sorted keys, no spaces)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def document_digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def key_path() -> Path:
    return Path(settings.FLEET_SIGNING_KEY_FILE)


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_b64(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def generate(path: Path | None = None) -> Ed25519PrivateKey:
    """A new key pair; the private half written to ``path`` readable by its owner only."""
    path = path or key_path()
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)
    return private


_loaded: dict[str, tuple[float, Ed25519PrivateKey, str]] = {}


def signer() -> tuple[Ed25519PrivateKey, str]:
    """The current private key and its key id, read once per process (again when the
    file changes): a dispatch signs thousands of envelopes with them."""
    path = key_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as error:
        raise SigningKeyMissing(
            f"No job-signing key at {path}: run `manage.py fleet_keygen`.") from error
    cached = _loaded.get(str(path))
    if cached is None or cached[0] != mtime:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyMissing(f"{path} is not an Ed25519 private key.")
        cached = _loaded[str(path)] = (mtime, key, key_id_of(key.public_key()))
    return cached[1], cached[2]


def private_key() -> Ed25519PrivateKey:
    """The current private key (see ``signer``)."""
    return signer()[0]


def sign_bytes(key: Ed25519PrivateKey, body: bytes) -> str:
    """The base64 signature of canonical bytes (``canonical``) already made."""
    return base64.b64encode(key.sign(body)).decode()


def sign(envelope: dict[str, Any]) -> tuple[str, str]:
    """(signature base64, key id) of the envelope with the current private key."""
    key, key_id = signer()
    return sign_bytes(key, canonical(envelope)), key_id


def verify(envelope: dict[str, Any], signature: str, public_key_b64: str) -> bool:
    """For tests and tools: does the signature verify against this public key?"""
    from cryptography.exceptions import InvalidSignature

    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    try:
        public.verify(base64.b64decode(signature), canonical(envelope))
    except (InvalidSignature, ValueError):
        return False
    return True
