"""Secrets the fleet hands out (enrolment secrets, agent tokens): random, shown once,
stored only as a sha256 with a short prefix to find the row."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "itsm_enr_"
TOKEN_PREFIX = "itsm_agt_"
PREFIX_LENGTH = 12


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def same(raw: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(raw), stored_digest)
