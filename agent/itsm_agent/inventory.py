"""What the agent reports about its machine (AGENT.md, "Inventory"), with psutil and the
standard library.

Installed software comes from ``dpkg-query`` (Debian family) or ``rpm -qa`` (RPM family);
on other platforms (macOS, Windows) the list is empty and the reason is logged once: a
documented gap. Services come from systemd (``systemctl list-units``), empty without it."""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from . import __version__

log = logging.getLogger(__name__)

_logged_once: set[str] = set()
# Pseudo and container file systems that are not disks.
_SKIP_FSTYPES = {"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "cgroup",
                 "cgroup2", "nsfs", "autofs", "fuse.lxcfs", "iso9660"}
COMMAND_TIMEOUT = 30


def _once(key: str, message: str, *args: object) -> None:
    if key not in _logged_once:
        _logged_once.add(key)
        log.info(message, *args)


def _run(argv: list[str]) -> str | None:
    """Output of a command given as argv (never a shell), or None when it failed."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              env={**os.environ, "LC_ALL": "C"}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _once(f"run:{argv[0]}", "%s failed: %s", argv[0], exc)
        return None
    if proc.returncode != 0:
        _once(f"rc:{argv[0]}", "%s exited %s: %s", argv[0], proc.returncode,
              proc.stderr.strip()[:200])
        return None
    return proc.stdout


def os_info() -> dict[str, str]:
    name, version = platform.system(), platform.version()
    try:
        fields = dict(platform.freedesktop_os_release())
        name = fields.get("NAME", name)
        version = fields.get("VERSION", fields.get("VERSION_ID", version))
    except OSError:
        if platform.system() == "Darwin":
            name, version = "macOS", platform.mac_ver()[0]
        elif platform.system() == "Windows":
            name, version = "Windows", platform.version()
    return {"name": name, "version": version, "kernel": platform.release()}


def host_names() -> tuple[str, str]:
    hostname = socket.gethostname()
    short, _, domain = hostname.partition(".")
    if not domain:
        fqdn = socket.getfqdn()
        if fqdn.startswith(short + ".") and not fqdn.endswith(".localdomain"):
            domain = fqdn[len(short) + 1:]
    return short, domain


def serial_number() -> str:
    # Readable by root only on most systems: empty when not allowed.
    for name in ("product_serial", "board_serial", "chassis_serial"):
        try:
            value = Path("/sys/class/dmi/id", name).read_text().strip()
        except OSError:
            continue
        if value and value.lower() not in {"none", "0", "to be filled by o.e.m.",
                                           "default string", "not specified"}:
            return value
    return ""


def addresses() -> tuple[list[str], list[str]]:
    ips: set[str] = set()
    macs: set[str] = set()
    for ifname, entries in psutil.net_if_addrs().items():
        if ifname == "lo" or ifname.startswith("lo"):
            continue
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                address = entry.address.split("%", 1)[0]
                if address and not address.startswith(("127.", "::1", "fe80:")):
                    ips.add(address)
            elif entry.family == psutil.AF_LINK:
                mac = entry.address.lower().replace("-", ":")
                if mac and mac != "00:00:00:00:00:00":
                    macs.add(mac)
    return sorted(ips), sorted(macs)


def cpu_info() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"model": model or platform.machine(), "cores": psutil.cpu_count() or 1}


def disks() -> list[dict[str, Any]]:
    result = []
    seen: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _SKIP_FSTYPES or part.mountpoint in seen:
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        if usage.total == 0:
            continue
        seen.add(part.mountpoint)
        result.append({"mount": part.mountpoint,
                       "total_gb": round(usage.total / 2**30, 1),
                       "used_percent": round(usage.percent, 1)})
    if not result:
        # Containers often list no partitions: report the root file system.
        usage = psutil.disk_usage("/")
        result.append({"mount": "/", "total_gb": round(usage.total / 2**30, 1),
                       "used_percent": round(usage.percent, 1)})
    return sorted(result, key=lambda d: d["mount"])


def software() -> list[dict[str, str]]:
    if shutil.which("dpkg-query"):
        out = _run(["dpkg-query", "-W", "-f",
                    "${db:Status-Abbrev}\t${Package}\t${Version}\t${Maintainer}\n"])
        if out is not None:
            items = []
            for line in out.splitlines():
                parts = line.split("\t")
                if len(parts) != 4 or not parts[0].startswith("ii"):
                    continue
                vendor = re.sub(r"\s*<[^>]*>\s*$", "", parts[3]).strip()
                items.append({"name": parts[1], "version": parts[2], "vendor": vendor})
            return _dedupe(items)
    if shutil.which("rpm"):
        out = _run(["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\n"])
        if out is not None:
            items = []
            for line in out.splitlines():
                parts = line.split("\t")
                if len(parts) == 3 and parts[0] != "gpg-pubkey":
                    vendor = "" if parts[2] == "(none)" else parts[2]
                    items.append({"name": parts[0], "version": parts[1], "vendor": vendor})
            return _dedupe(items)
    _once("software", "no dpkg-query or rpm here (%s): installed software is not reported",
          platform.system())
    return []


def _dedupe(items: list[dict[str, str]]) -> list[dict[str, str]]:
    # Multi-arch packages appear once per architecture; one row per name and version.
    unique = {(i["name"], i["version"]): i for i in items}
    return sorted(unique.values(), key=lambda i: (i["name"], i["version"]))


def processes() -> list[dict[str, Any]]:
    result = []
    for proc in psutil.process_iter(["pid", "name", "username", "cpu_percent",
                                     "memory_info"]):
        info = proc.info
        memory = info.get("memory_info")
        result.append({"pid": info["pid"], "name": info.get("name") or "",
                       "user": info.get("username") or "",
                       "cpu_percent": round(float(info.get("cpu_percent") or 0.0), 1),
                       "memory_mb": round(memory.rss / 2**20, 1) if memory else 0.0})
    return sorted(result, key=lambda p: p["pid"])


def services() -> list[dict[str, str]]:
    if not shutil.which("systemctl"):
        _once("systemctl", "no systemctl here: services are not reported")
        return []
    out = _run(["systemctl", "list-units", "--type=service", "--all", "--no-legend",
                "--plain", "--no-pager"])
    if out is None:
        return []
    result = []
    for line in out.splitlines():
        # UNIT LOAD ACTIVE SUB DESCRIPTION
        parts = line.split(None, 4)
        if len(parts) >= 4 and parts[0].endswith(".service"):
            result.append({"name": parts[0].removesuffix(".service"), "state": parts[3]})
    return sorted(result, key=lambda s: s["name"])


def sessions() -> list[dict[str, str]]:
    result = []
    for user in psutil.users():
        started = datetime.fromtimestamp(user.started, UTC).isoformat(timespec="seconds")
        result.append({"user": user.name, "terminal": user.terminal or "",
                       "host": user.host or "", "started": started.replace("+00:00", "Z")})
    return sorted(result, key=lambda s: (s["started"], s["user"], s["terminal"]))


def uptime_seconds() -> int:
    return max(0, int(time.time() - psutil.boot_time()))


def facts() -> dict[str, Any]:
    """What enrolment sends: enough for the server to find this machine in the CMDB."""
    hostname, domain = host_names()
    ips, macs = addresses()
    osi = os_info()
    return {"hostname": hostname, "domain": domain, "os_name": osi["name"],
            "os_version": osi["version"], "serial_number": serial_number(),
            "mac_addresses": macs, "ip_addresses": ips, "agent_version": __version__}


def collect() -> dict[str, Any]:
    """The full inventory, every key of the documented format."""
    hostname, domain = host_names()
    ips, macs = addresses()
    return {
        "os": os_info(),
        "hostname": hostname,
        "domain": domain,
        "serial_number": serial_number(),
        "ip_addresses": ips,
        "mac_addresses": macs,
        "cpu": cpu_info(),
        "memory_mb": int(psutil.virtual_memory().total // 2**20),
        "disks": disks(),
        "uptime_seconds": uptime_seconds(),
        "software": software(),
        "processes": processes(),
        "services": services(),
        "sessions": sessions(),
    }


def snapshot() -> dict[str, Any]:
    """The live part the desk shows on the device page."""
    return {"processes": processes(), "services": services(), "sessions": sessions()}
