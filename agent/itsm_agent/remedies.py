"""The built-in remediations an action may name (``spec.builtin``).

Each takes the checked parameters and a ``Context`` (timeout, cancellation, the user to
run as, the clearable roots) and returns an ``Outcome`` shaped like a script's result.
Tools are found on PATH and run with an argv list, never a shell; parameters that reach
an argv must look like what they are (a service, package or certificate name never
starts with ``-``, so it cannot become an option)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal as signals
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from . import inventory
from .process import Cancellation, ProcessResult, RunAs, base_env, run_argv

DEFAULT_CLEARABLE_ROOTS = ("/tmp", "/var/tmp", "/var/cache", "/var/log/itsm-cleanup")
SIGNALS = ("TERM", "KILL", "HUP", "INT", "QUIT", "USR1", "USR2")
HEALTH_TIMEOUT = 5.0

_SERVICE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9@._:-]{0,255}")
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,255}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.:~_-]{0,127}")
_CERT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")
_PROCESS = re.compile(r"[^/\x00]{1,255}")


class BadParams(ValueError):
    """A parameter does not fit the built-in; the message names it."""


class ToolMissing(RuntimeError):
    """None of the tools the built-in needs is installed."""


@dataclass
class Context:
    timeout: float
    cancellation: Cancellation = field(default_factory=Cancellation)
    run_as: RunAs = field(default_factory=RunAs)
    clearable_roots: tuple[str, ...] = DEFAULT_CLEARABLE_ROOTS
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return max(0.1, self.timeout - (time.monotonic() - self.started))

    def run(self, argv: list[str], extra_env: dict[str, str] | None = None) -> ProcessResult:
        env = base_env()
        env.update(extra_env or {})
        return run_argv(argv, env=env, timeout=self.left(), cancellation=self.cancellation,
                        run_as=self.run_as)


@dataclass
class Outcome:
    status: str
    reason: str = ""
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration_ms: int = 0
    data: dict[str, Any] = field(default_factory=dict)


def outcome_of(result: ProcessResult, data: dict[str, Any] | None = None) -> Outcome:
    """A process's result as an action's: cancelled, timed out, or by its exit code."""
    data = dict(data or {})
    if result.stdout_truncated:
        data["stdout_truncated"] = True
    if result.stderr_truncated:
        data["stderr_truncated"] = True
    if result.cancelled:
        status, reason = "cancelled", "cancelled"
    elif result.timed_out:
        status, reason = "timed_out", "timeout"
    else:
        status, reason = ("succeeded" if result.exit_code == 0 else "failed"), ""
    return Outcome(status, reason, result.exit_code, result.stdout, result.stderr,
                   result.duration_ms, data)


def _name(params: dict[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
        raise BadParams(f"parameter {key!r} must be {what}")
    return value.strip()


def _optional_int(params: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadParams(f"parameter {key!r} must be a whole number")
    try:
        number = int(value)
    except ValueError as exc:
        raise BadParams(f"parameter {key!r} must be a whole number") from exc
    if not low <= number <= high:
        raise BadParams(f"parameter {key!r} must be from {low} to {high}")
    return number


def _tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise ToolMissing(f"none of {', '.join(names)} is installed (not on PATH)")


# -- the built-ins -------------------------------------------------------------------
def restart_service(params: dict[str, Any], ctx: Context) -> Outcome:
    name = _name(params, "name", _SERVICE, "a service name")
    if shutil.which("systemctl"):
        argv = [_tool("systemctl"), "restart", "--", name]
    elif shutil.which("service"):
        argv = [_tool("service"), name, "restart"]
    else:
        raise ToolMissing("neither systemctl nor service is installed (not on PATH)")
    return outcome_of(ctx.run(argv), {"service": name})


def kill_process(params: dict[str, Any], ctx: Context) -> Outcome:
    """By ``pid`` or by ``name`` (the process name or its executable's base name). Never
    the agent itself or PID 1; with a ``run_as`` user other than root, only that
    user's processes."""
    started = time.monotonic()
    signame = str(params.get("signal") or "TERM").upper().removeprefix("SIG")
    if signame not in SIGNALS:
        raise BadParams(f"parameter 'signal' must be one of {', '.join(SIGNALS)}")
    signum = int(getattr(signals, f"SIG{signame}", signals.SIGTERM))
    pid = _optional_int(params, "pid", 1, 2 ** 31)
    name = params.get("name")
    if pid is None and not name:
        raise BadParams("give parameter 'name' or 'pid'")
    if name is not None and pid is None:
        name = _name(params, "name", _PROCESS, "a process name")
    spared = {1, os.getpid(), os.getppid()}
    targets = []
    for proc in psutil.process_iter(["pid", "name", "exe", "username"]):
        info = proc.info
        if info["pid"] in spared:
            continue
        if pid is not None:
            hit = info["pid"] == pid
        else:
            exe = os.path.basename(info.get("exe") or "")
            hit = str(name).lower() in ((info.get("name") or "").lower(), exe.lower())
        if hit and (ctx.run_as.uid is None or info.get("username") == ctx.run_as.name):
            targets.append(proc)
    killed, errors = [], []
    for proc in targets:
        try:
            proc.send_signal(signum)
            killed.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied) as exc:
            errors.append(f"{proc.pid}: {type(exc).__name__}")
    data = {"signal": signame, "killed": sorted(killed), "target": pid or name}
    took = int((time.monotonic() - started) * 1000)
    if not killed:
        why = "; ".join(errors) or "no matching process"
        return Outcome("failed", "", 1, "", why, took, data)
    return Outcome("succeeded", "", 0, f"sent SIG{signame} to {len(killed)} process(es): "
                   f"{', '.join(map(str, sorted(killed)))}\n", "; ".join(errors), took, data)


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    for root in roots:
        real_root = os.path.realpath(root)
        try:
            if os.path.commonpath([path, real_root]) == real_root:
                return True
        except ValueError:  # different drives
            continue
    return False


def clear_directory(params: dict[str, Any], ctx: Context) -> Outcome:
    """Delete what is inside ``path`` (kept: the folder itself), only files older than
    ``older_than_days`` when given. ``path`` must be inside a clearable root once every
    symlink is resolved; below it, symlinks are removed, never followed."""
    started = time.monotonic()
    raw = params.get("path")
    if not isinstance(raw, str) or not os.path.isabs(raw) or "\x00" in raw:
        raise BadParams("parameter 'path' must be an absolute path")
    days = _optional_int(params, "older_than_days", 0, 36500)
    real = os.path.realpath(raw)
    if not _inside(real, ctx.clearable_roots):
        raise BadParams(f"parameter 'path': {raw} is not inside a clearable root "
                        f"({', '.join(ctx.clearable_roots)}; agent.toml clearable_roots)")
    if not os.path.isdir(real):
        return Outcome("failed", "", 1, "", f"{raw} is not a directory",
                       int((time.monotonic() - started) * 1000), {"path": raw})
    cutoff = time.time() - days * 86400 if days is not None else None
    files = dirs = freed = 0
    errors: list[str] = []
    # fwalk works on directory descriptors and does not follow symlinks: a link swapped
    # in during the walk cannot lead it out of the folder.
    for _top, dirnames, filenames, dirfd in os.fwalk(real, topdown=False,
                                                       follow_symlinks=False):
        if ctx.cancellation.cancelled:
            break
        for entry in [*filenames, *dirnames]:
            try:
                info = os.stat(entry, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    # Emptied above (bottom-up). With an age limit, a folder goes only
                    # when it is empty and old itself.
                    if cutoff is not None and info.st_mtime >= cutoff:
                        continue
                    try:
                        os.rmdir(entry, dir_fd=dirfd)
                        dirs += 1
                    except OSError as exc:
                        if cutoff is None or exc.errno != errno.ENOTEMPTY:
                            raise
                    continue
                if cutoff is not None and info.st_mtime >= cutoff:
                    continue
                os.unlink(entry, dir_fd=dirfd)
                files += 1
                freed += info.st_size if stat.S_ISREG(info.st_mode) else 0
            except OSError as exc:
                errors.append(f"{entry}: {exc.strerror or exc}")
    data = {"path": raw, "removed_files": files, "removed_dirs": dirs,
            "freed_bytes": freed, "errors": errors[:50]}
    took = int((time.monotonic() - started) * 1000)
    if ctx.cancellation.cancelled:
        return Outcome("cancelled", "cancelled", None, "", "cancelled during the clean-up",
                       took, data)
    summary = f"removed {files} file(s) and {dirs} folder(s), {freed} bytes\n"
    return Outcome("succeeded" if not errors else "failed", "", 0 if not errors else 1,
                   summary, "\n".join(errors[:50]), took, data)


def flush_dns(params: dict[str, Any], ctx: Context) -> Outcome:
    if sys.platform == "win32":
        argv = [_tool("ipconfig"), "/flushdns"]
    elif sys.platform == "darwin":
        argv = [_tool("dscacheutil"), "-flushcache"]
    elif shutil.which("resolvectl"):
        argv = [_tool("resolvectl"), "flush-caches"]
    elif shutil.which("systemd-resolve"):
        argv = [_tool("systemd-resolve"), "--flush-caches"]
    elif shutil.which("nscd"):
        argv = [_tool("nscd"), "-i", "hosts"]
    else:
        raise ToolMissing("none of resolvectl, systemd-resolve, nscd is installed")
    return outcome_of(ctx.run(argv), {"tool": os.path.basename(argv[0])})


NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none",
                  "NEEDRESTART_MODE": "a"}
_APT_OPTIONS = ["-y", "-q", "-o", "Dpkg::Options::=--force-confdef",
                "-o", "Dpkg::Options::=--force-confold"]


def _package_manager() -> str:
    for name in ("apt-get", "dnf", "yum"):
        if shutil.which(name):
            return name
    raise ToolMissing("none of apt-get, dnf, yum is installed (not on PATH)")


def install_package(params: dict[str, Any], ctx: Context) -> Outcome:
    name = _name(params, "name", _PACKAGE, "a package name")
    version = params.get("version")
    if version not in (None, ""):
        version = _name(params, "version", _VERSION, "a version")
    manager = _package_manager()
    if manager == "apt-get":
        target = f"{name}={version}" if version else name
        argv = [_tool(manager), "install", *_APT_OPTIONS, "--", target]
    else:
        target = f"{name}-{version}" if version else name
        argv = [_tool(manager), "install", "-y", "-q", "--", target]
    return outcome_of(ctx.run(argv, NONINTERACTIVE),
                      {"package": name, "version": version or "", "manager": manager})


def remove_package(params: dict[str, Any], ctx: Context) -> Outcome:
    name = _name(params, "name", _PACKAGE, "a package name")
    manager = _package_manager()
    options = _APT_OPTIONS if manager == "apt-get" else ["-y", "-q"]
    argv = [_tool(manager), "remove", *options, "--", name]
    return outcome_of(ctx.run(argv, NONINTERACTIVE), {"package": name, "manager": manager})


def renew_certificate(params: dict[str, Any], ctx: Context) -> Outcome:
    name = _name(params, "name", _CERT, "a certificate name")
    argv = [_tool("certbot"), "renew", "--cert-name", name, "--non-interactive"]
    return outcome_of(ctx.run(argv), {"certificate": name})


def health_check(params: dict[str, Any], ctx: Context) -> Outcome:
    """Every check given must pass: ``service`` active, TCP ``port`` on this machine
    accepting, ``url`` answering 2xx/3xx, every disk used below ``disk_percent``.
    Changes nothing."""
    started = time.monotonic()
    checks: list[dict[str, Any]] = []
    service = params.get("service")
    port = _optional_int(params, "port", 1, 65535)
    url = params.get("url")
    disk = _optional_int(params, "disk_percent", 1, 100)
    if service not in (None, ""):
        service = _name(params, "service", _SERVICE, "a service name")
    if url not in (None, "") and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise BadParams("parameter 'url' must be an http:// or https:// URL")
    if not any((service, port, url, disk)):
        raise BadParams("give at least one of 'service', 'port', 'url', 'disk_percent'")
    if service:
        result = ctx.run([_tool("systemctl"), "is-active", "--", str(service)])
        state = result.stdout.strip() or result.stderr.strip()
        checks.append({"check": "service", "target": service,
                       "ok": result.exit_code == 0, "detail": state})
    if port:
        checks.append(_check_port(port))
    if url:
        checks.append(_check_url(str(url)))
    if disk:
        used = {d["mount"]: d["used_percent"] for d in inventory.disks()}
        full = {mount: pct for mount, pct in used.items() if pct >= disk}
        checks.append({"check": "disk_percent", "target": disk, "ok": not full,
                       "detail": full or f"highest {max(used.values(), default=0)}%"})
    passed = all(check["ok"] for check in checks)
    lines = [f"{'ok  ' if c['ok'] else 'FAIL'} {c['check']} {c['target']}: {c['detail']}"
             for c in checks]
    return Outcome("succeeded" if passed else "failed", "", 0 if passed else 1,
                   "\n".join(lines) + "\n", "", int((time.monotonic() - started) * 1000),
                   {"passed": passed, "checks": checks})


def _check_port(port: int) -> dict[str, Any]:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=HEALTH_TIMEOUT):
            return {"check": "port", "target": port, "ok": True, "detail": "accepting"}
    except OSError as exc:
        return {"check": "port", "target": port, "ok": False,
                "detail": exc.strerror or str(exc)}


def _check_url(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, method="GET",
                                     headers={"User-Agent": "itsm-agent health check"})
    try:
        with urllib.request.urlopen(request, timeout=HEALTH_TIMEOUT) as response:
            return {"check": "url", "target": url, "ok": response.status < 400,
                    "detail": f"HTTP {response.status}"}
    except urllib.error.HTTPError as exc:
        return {"check": "url", "target": url, "ok": False, "detail": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        return {"check": "url", "target": url, "ok": False, "detail": str(exc)}


BUILTINS: dict[str, Callable[[dict[str, Any], Context], Outcome]] = {
    "restart_service": restart_service,
    "kill_process": kill_process,
    "clear_directory": clear_directory,
    "flush_dns": flush_dns,
    "install_package": install_package,
    "remove_package": remove_package,
    "renew_certificate": renew_certificate,
    "health_check": health_check,
}
