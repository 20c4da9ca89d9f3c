"""The state directory (default ``/var/lib/itsm-agent``, mode 0700).

    identity.json     agent id, server, pinned signing keys, intervals (0600)
    token             the agent token (0600)
    status.json       last contact, last inventory sent, revoked flag
    sequence          the highest job sequence accepted
    executions/<id>.json  the record of every verified execution id: its result
    outbox/<id>.json  results not yet acknowledged by the server

Every write goes to a temporary file first and is renamed into place, so a crash never
leaves half a file behind."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Keep records this long after a job's expiry: a replay after expiry is refused
# "expired" anyway, so older records are no longer needed.
RECORD_RETENTION = timedelta(days=7)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def canonical_id(value: object) -> str | None:
    """A UUID in canonical form, safe to use as a file name; None when it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True).encode()


class State:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # The service loop and job threads both write here.
        self._lock = threading.RLock()

    # -- enrolment ----------------------------------------------------------------
    def ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def identity(self) -> dict[str, Any] | None:
        data = _read_json(self.path / "identity.json")
        return data if isinstance(data, dict) and data.get("agent_id") else None

    def token(self) -> str | None:
        try:
            return (self.path / "token").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    @property
    def enrolled(self) -> bool:
        return self.identity() is not None and self.token() is not None

    def save_enrolment(self, *, server: str, agent_id: str, token: str,
                       signing_keys: list[dict[str, str]], heartbeat_seconds: int,
                       inventory_seconds: int, reenrolled: bool = False) -> None:
        with self._lock:
            self.ensure()
            write_atomic(self.path / "token", token.encode())
            write_atomic(self.path / "identity.json", _dump({
                "server": server, "agent_id": agent_id, "signing_keys": signing_keys,
                "heartbeat_seconds": heartbeat_seconds,
                "inventory_seconds": inventory_seconds,
                "enrolled_at": now_iso(), "reenrolled": reenrolled,
            }))
            # A new identity: forget the old revocation. Records and the sequence stay
            # (the server keeps the agent id and its sequence on re-enrolment).
            status = self.status()
            status.update(revoked=False, revoked_at=None)
            write_atomic(self.path / "status.json", _dump(status))

    def set_signing_keys(self, keys: list[dict[str, str]]) -> None:
        with self._lock:
            identity = self.identity() or {}
            identity["signing_keys"] = keys
            write_atomic(self.path / "identity.json", _dump(identity))

    # -- status -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        data = _read_json(self.path / "status.json")
        return data if isinstance(data, dict) else {}

    def update_status(self, **values: Any) -> None:
        with self._lock:
            status = self.status()
            status.update(values)
            write_atomic(self.path / "status.json", _dump(status))

    def mark_revoked(self) -> None:
        self.update_status(revoked=True, revoked_at=now_iso())

    @property
    def revoked(self) -> bool:
        return bool(self.status().get("revoked"))

    # -- replay protection ----------------------------------------------------------
    def highest_sequence(self) -> int:
        try:
            return int((self.path / "sequence").read_text().strip())
        except (OSError, ValueError):
            return 0

    def raise_sequence(self, sequence: int) -> None:
        with self._lock:
            if sequence > self.highest_sequence():
                write_atomic(self.path / "sequence", str(sequence).encode())

    def record(self, execution_id: str) -> dict[str, Any] | None:
        cid = canonical_id(execution_id)
        if cid is None:
            return None
        data = _read_json(self.path / "executions" / f"{cid}.json")
        return data if isinstance(data, dict) else None

    def put_record(self, execution_id: str, record: dict[str, Any]) -> None:
        cid = canonical_id(execution_id)
        if cid is None:
            raise ValueError(f"not a UUID: {execution_id!r}")
        with self._lock:
            write_atomic(self.path / "executions" / f"{cid}.json", _dump(record))

    def prune_records(self, now: datetime | None = None) -> int:
        """Drop records of acknowledged jobs that expired long ago."""
        now = now or datetime.now(UTC)
        removed = 0
        folder = self.path / "executions"
        if not folder.is_dir():
            return 0
        outbox = {p.stem for p in (self.path / "outbox").glob("*.json")}
        for path in folder.glob("*.json"):
            data = _read_json(path)
            expires = (data or {}).get("expires_at") if isinstance(data, dict) else None
            try:
                when = datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            if path.stem not in outbox and when + RECORD_RETENTION < now:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- results waiting for an ack --------------------------------------------------
    def queue_result(self, result: dict[str, Any]) -> None:
        cid = canonical_id(result.get("execution_id"))
        if cid is None:
            raise ValueError("a result needs a UUID execution_id")
        with self._lock:
            write_atomic(self.path / "outbox" / f"{cid}.json", _dump(result))

    def pending_results(self) -> list[dict[str, Any]]:
        folder = self.path / "outbox"
        if not folder.is_dir():
            return []
        dated = []
        for path in folder.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):  # acked meanwhile
                dated.append((path.stat().st_mtime_ns, path))
        results = [_read_json(p) for _, p in sorted(dated)]
        return [r for r in results if isinstance(r, dict)]

    def pending_count(self) -> int:
        folder = self.path / "outbox"
        return len(list(folder.glob("*.json"))) if folder.is_dir() else 0

    def ack(self, ids: list[str]) -> None:
        with self._lock:
            for value in ids:
                cid = canonical_id(value)
                if cid:
                    (self.path / "outbox" / f"{cid}.json").unlink(missing_ok=True)
