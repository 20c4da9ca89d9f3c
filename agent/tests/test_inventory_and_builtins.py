"""Collection on this machine (Debian: dpkg exists) and the built-in queries on real
processes and disks."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from itsm_agent import builtins, inventory
from itsm_agent.builtins import version_less

KEYS = {"os", "hostname", "domain", "serial_number", "ip_addresses", "mac_addresses", "cpu",
        "memory_mb", "disks", "uptime_seconds", "software", "processes", "services",
        "sessions"}


@pytest.fixture(scope="module")
def collected():
    return inventory.collect()


def test_full_inventory_has_the_documented_keys(collected):
    assert set(collected) == KEYS
    assert set(collected["os"]) == {"name", "version", "kernel"}
    assert set(collected["cpu"]) == {"model", "cores"} and collected["cpu"]["cores"] >= 1
    assert collected["memory_mb"] > 0 and collected["uptime_seconds"] >= 0
    assert collected["hostname"]
    for disk in collected["disks"]:
        assert set(disk) == {"mount", "total_gb", "used_percent"}
    pids = {p["pid"] for p in collected["processes"]}
    assert os.getpid() in pids
    for proc in collected["processes"][:5]:
        assert set(proc) == {"pid", "name", "user", "cpu_percent", "memory_mb"}
    for service in collected["services"]:
        assert set(service) == {"name", "state"}
    for session in collected["sessions"]:
        assert set(session) == {"user", "terminal", "host", "started"}


@pytest.mark.skipif(not os.path.exists("/usr/bin/dpkg-query"), reason="not Debian")
def test_software_from_dpkg(collected):
    names = {s["name"] for s in collected["software"]}
    assert "dpkg" in names
    for item in collected["software"][:5]:
        assert set(item) == {"name", "version", "vendor"}


def test_facts_for_enrolment():
    facts = inventory.facts()
    assert set(facts) == {"hostname", "domain", "os_name", "os_version", "serial_number",
                          "mac_addresses", "ip_addresses", "agent_version"}


def test_process_running_finds_this_python():
    name = psutil.Process().name()
    answer = builtins.process_running({"name": name})
    assert answer["matched"] is True and os.getpid() in answer["detail"]["pids"]
    assert builtins.process_running({"name": "no-such-process-xyz"})["matched"] is False


def test_process_running_sees_a_child_by_name():
    child = subprocess.Popen(["sleep", "30"])
    try:
        answer = builtins.process_running({"name": "sleep"})
        assert child.pid in answer["detail"]["pids"]
    finally:
        child.kill()
        child.wait()


def test_disk_above():
    assert builtins.disk_above({"percent": 0})["matched"] is True
    answer = builtins.disk_above({"percent": 100})
    assert answer["matched"] is False and answer["detail"]["percent"] == 100
    with pytest.raises(builtins.BadParams):
        builtins.disk_above({"percent": 150})


@pytest.mark.skipif(not os.path.exists("/usr/bin/dpkg-query"), reason="not Debian")
def test_package_below_with_the_installed_dpkg():
    version = next(s["version"] for s in inventory.software() if s["name"] == "dpkg")
    assert builtins.package_below({"name": "dpkg", "version": "999"})["matched"] is True
    same = builtins.package_below({"name": "dpkg", "version": version})
    assert same["matched"] is False and same["detail"]["version"] == version
    absent = builtins.package_below({"name": "no-such-package", "version": "1"})
    assert absent == {"matched": False, "detail": {"name": "no-such-package",
                                                   "installed": False}}


def test_service_stopped_of_an_unknown_service():
    answer = builtins.service_stopped({"name": "no-such-unit"})
    assert answer["matched"] is False and answer["detail"]["found"] is False


def test_snapshot_has_processes_services_sessions():
    data = builtins.snapshot({})
    assert set(data) == {"processes", "services", "sessions"}
    assert any(p["pid"] == os.getpid() for p in data["processes"])


@pytest.mark.parametrize(("a", "b"), [
    ("1.2", "1.10"), ("1.0~rc1", "1.0"), ("1.0", "1.0.1"), ("1.0", "1.0a"),
    ("1.0a", "1.0.1"), ("2.36-9", "2.36-9+deb12u1"), ("9.9", "1:0.1"),
    ("1.2.3-1ubuntu1", "1.2.3-1ubuntu2"), ("3.0.11-1~deb12u1", "3.0.11-1"),
])
def test_version_order(a, b):
    assert version_less(a, b) and not version_less(b, a)


def test_equal_versions():
    assert not version_less("1.02", "1.2") and not version_less("1.2", "1.02")


def test_software_gap_is_empty_not_an_error(monkeypatch):
    # A machine without dpkg or rpm (macOS, Windows): PATH with neither.
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + ":/nonexistent")
    import shutil
    if shutil.which("dpkg-query") or shutil.which("rpm"):
        pytest.skip("dpkg-query is next to python here")
    assert inventory.software() == []
