"""Shared helpers: a real Ed25519 key pair, a signer that builds jobs the way the server
does, and an enrolled state directory."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from itsm_agent.diff import canonical_json
from itsm_agent.state import State


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Signer:
    def __init__(self, key_id: str = "k1") -> None:
        self.key_id = key_id
        self.private = Ed25519PrivateKey.generate()
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_b64 = base64.b64encode(raw).decode()
        self.sequence = 0

    @property
    def pinned(self) -> dict[str, str]:
        return {"key_id": self.key_id, "public_key": self.public_b64}

    def sign(self, obj: Any) -> str:
        return base64.b64encode(self.private.sign(canonical_json(obj))).decode()

    def envelope(self, agent_id: str, *, kind: str = "snapshot", action: str = "snapshot",
                 params: dict[str, Any] | None = None, script: str = "",
                 sequence: int | None = None, not_before: datetime | None = None,
                 expires_at: datetime | None = None,
                 execution_id: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC)
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        return {"v": 1, "execution_id": execution_id or str(uuid.uuid4()),
                "agent_id": agent_id, "kind": kind, "action": action, "version": 1,
                "script_sha256": hashlib.sha256(script.encode()).hexdigest() if script else "",
                "script": script, "params": params or {},
                "not_before": iso(not_before or now),
                "expires_at": iso(expires_at or now + timedelta(minutes=5)),
                "sequence": sequence}

    def job(self, envelope: dict[str, Any]) -> dict[str, Any]:
        return {"envelope": envelope, "signature": self.sign(envelope), "key_id": self.key_id}


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def agent_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def state(tmp_path: Path, signer: Signer, agent_id: str) -> State:
    st = State(tmp_path / "state")
    st.save_enrolment(server="http://127.0.0.1:9", agent_id=agent_id, token="tok-123",
                      signing_keys=[signer.pinned], heartbeat_seconds=60,
                      inventory_seconds=3600)
    return st
