"""Running a child process the one safe way: an argv list (never shell text), a clean
environment, a new process group that a timeout or a cancel kills whole, stdout and
stderr capped, optionally as another user."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

OUTPUT_CAP = 64 * 1024
# Passed through from the agent's own environment; nothing else is inherited.
BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "HOME")


def base_env(source: dict[str, str] | None = None) -> dict[str, str]:
    source = source if source is not None else dict(os.environ)
    return {key: source[key] for key in BASE_ENV if key in source}


@dataclass(frozen=True)
class RunAs:
    """Who the child runs as. ``uid`` None: as the agent itself."""

    name: str = ""
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()
    home: str = ""

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        # user= alone would keep root's group and supplementary groups.
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


class Cancellation:
    """Shared by a running job and the ``cancel`` that may stop it: cancelling kills the
    process groups attached now and any attached later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._procs: set[subprocess.Popen[bytes]] = set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            procs = list(self._procs)
        for proc in procs:
            kill_group(proc)

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.add(proc)
            cancelled = self._cancelled
        if cancelled:
            kill_group(proc)

    def detach(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration_ms: int
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    cancelled: bool = False
    argv: list[str] = field(default_factory=list)


class _CappedReader(threading.Thread):
    """Reads a pipe to the end, keeping the first ``cap`` bytes (the rest is drained so
    the child never blocks on a full pipe)."""

    def __init__(self, stream: Any, cap: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.cap = stream, cap
        self.data = bytearray()
        self.truncated = False

    def run(self) -> None:
        while chunk := self.stream.read(65536):
            room = self.cap - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if len(chunk) > max(room, 0):
                self.truncated = True
        self.stream.close()

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", errors="replace")


def run_argv(argv: list[str], *, env: dict[str, str], timeout: float,
             cwd: str | None = None, cap: int = OUTPUT_CAP,
             cancellation: Cancellation | None = None,
             run_as: RunAs | None = None) -> ProcessResult:
    """Run ``argv`` (no shell) to its end, its timeout, or its cancellation."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd,
                            start_new_session=True, **(run_as or RunAs()).popen_kwargs())
    if cancellation is not None:
        cancellation.attach(proc)
    readers = [_CappedReader(proc.stdout, cap), _CappedReader(proc.stderr, cap)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        proc.wait()
    finally:
        if cancellation is not None:
            cancellation.detach(proc)
    for reader in readers:
        # A grandchild that kept the pipe open must not hold us forever.
        reader.join(timeout=5)
    cancelled = bool(cancellation and cancellation.cancelled) and not timed_out and (
        proc.returncode is not None and proc.returncode < 0)
    return ProcessResult(exit_code=None if timed_out or cancelled else proc.returncode,
                         stdout=readers[0].text(), stderr=readers[1].text(),
                         timed_out=timed_out, cancelled=cancelled,
                         duration_ms=int((time.monotonic() - started) * 1000),
                         stdout_truncated=readers[0].truncated,
                         stderr_truncated=readers[1].truncated, argv=list(argv))


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
