"""The eight built-ins, with fake tools on PATH that record the argv they were given."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from itsm_agent import remedies
from itsm_agent.remedies import BadParams, Context, ToolMissing


class FakeTools:
    """A PATH folder of shell scripts that append their name, argv and the package
    manager's environment to a log, and exit with a chosen code."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.log = folder, folder / "calls.log"
        folder.mkdir(exist_ok=True)

    def add(self, name: str, exit_code: int = 0, stdout: str = "") -> None:
        path = self.folder / name
        path.write_text(f"#!/bin/sh\nprintf '%s|' {name} \"$@\" >> {self.log}; echo >> {self.log}\n"
                        f"printf 'DEBIAN_FRONTEND=%s\\n' \"$DEBIAN_FRONTEND\" >> {self.log}\n"
                        f"printf '{stdout}'\nexit {exit_code}\n")
        path.chmod(0o755)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [line.rstrip("|").split("|") for line in lines[0::2]]

    def env(self) -> list[str]:
        return self.log.read_text().splitlines()[1::2]


@pytest.fixture
def tools(tmp_path, monkeypatch) -> FakeTools:
    fake = FakeTools(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(fake.folder))
    return fake


def ctx(**changes: Any) -> Context:
    return Context(**{"timeout": 20, **changes})


def test_restart_service_with_systemctl_or_service(tools):
    tools.add("systemctl")
    out = remedies.restart_service({"name": "nginx.service"}, ctx())
    assert (out.status, out.exit_code) == ("succeeded", 0)
    assert tools.calls() == [["systemctl", "restart", "--", "nginx.service"]]
    (tools.folder / "systemctl").unlink()
    tools.add("service", exit_code=3)
    out = remedies.restart_service({"name": "cups"}, ctx())
    assert (out.status, out.exit_code) == ("failed", 3)
    assert tools.calls()[-1] == ["service", "cups", "restart"]


def test_names_cannot_become_options(tools):
    tools.add("systemctl")
    for bad in ("-H", "a b", "x;y", ""):
        with pytest.raises(BadParams, match="'name'"):
            remedies.restart_service({"name": bad}, ctx())
    assert tools.calls() == []


def test_a_missing_tool(tools):
    with pytest.raises(ToolMissing):
        remedies.restart_service({"name": "nginx"}, ctx())


@pytest.mark.parametrize(("present", "argv"), [
    ("resolvectl", ["resolvectl", "flush-caches"]),
    ("systemd-resolve", ["systemd-resolve", "--flush-caches"]),
    ("nscd", ["nscd", "-i", "hosts"]),
])
def test_flush_dns(tools, present, argv):
    tools.add(present)
    assert remedies.flush_dns({}, ctx()).status == "succeeded"
    assert tools.calls() == [argv]


def test_install_and_remove_with_apt_get(tools):
    tools.add("apt-get")
    tools.add("dnf")  # apt-get is preferred
    out = remedies.install_package({"name": "htop", "version": "3.2.2-2"}, ctx())
    assert out.status == "succeeded" and out.data["manager"] == "apt-get"
    assert tools.calls()[-1] == ["apt-get", "install", "-y", "-q", "-o",
                                 "Dpkg::Options::=--force-confdef", "-o",
                                 "Dpkg::Options::=--force-confold", "--", "htop=3.2.2-2"]
    assert tools.env()[-1] == "DEBIAN_FRONTEND=noninteractive"
    remedies.remove_package({"name": "htop"}, ctx())
    assert tools.calls()[-1][:2] == ["apt-get", "remove"] and tools.calls()[-1][-1] == "htop"


def test_install_and_remove_with_dnf_or_yum(tools):
    tools.add("yum")
    remedies.install_package({"name": "htop"}, ctx())
    assert tools.calls()[-1] == ["yum", "install", "-y", "-q", "--", "htop"]
    tools.add("dnf")
    remedies.install_package({"name": "htop", "version": "3.3.0"}, ctx())
    remedies.remove_package({"name": "htop"}, ctx())
    assert tools.calls()[-2:] == [["dnf", "install", "-y", "-q", "--", "htop-3.3.0"],
                                  ["dnf", "remove", "-y", "-q", "--", "htop"]]
    with pytest.raises(BadParams, match="'version'"):
        remedies.install_package({"name": "htop", "version": "--force"}, ctx())


def test_renew_certificate(tools):
    tools.add("certbot", stdout="renewed")
    out = remedies.renew_certificate({"name": "www.example.org"}, ctx())
    assert out.status == "succeeded" and out.stdout == "renewed"
    assert tools.calls() == [["certbot", "renew", "--cert-name", "www.example.org",
                              "--non-interactive"]]


def test_kill_process_by_pid_and_by_name(tmp_path):
    by_pid = subprocess.Popen(["sleep", "60"])
    named = tmp_path / f"itsm-test-{os.getpid()}"
    shutil.copy(shutil.which("sleep"), named)
    by_name = subprocess.Popen([str(named), "60"])
    try:
        out = remedies.kill_process({"pid": by_pid.pid}, ctx())
        assert out.status == "succeeded" and out.data["killed"] == [by_pid.pid]
        assert by_pid.wait(5) == -15
        time.sleep(0.2)  # the process table shows the new name
        out = remedies.kill_process({"name": named.name, "signal": "KILL"}, ctx())
        assert out.data["killed"] == [by_name.pid] and by_name.wait(5) == -9
        missing = remedies.kill_process({"name": "no-such-process-x9"}, ctx())
        assert (missing.status, missing.exit_code) == ("failed", 1)
        with pytest.raises(BadParams, match="'signal'"):
            remedies.kill_process({"pid": 123, "signal": "STOP"}, ctx())
        spared = remedies.kill_process({"pid": os.getpid()}, ctx())
        assert spared.status == "failed"  # never the agent itself
    finally:
        for proc in (by_pid, by_name):
            if proc.poll() is None:
                proc.kill()


def test_clear_directory_stays_inside_its_roots(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "cache" / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "precious").write_text("keep")
    (root / "cache" / "a.log").write_text("x" * 10)
    (root / "cache" / "sub" / "b.log").write_text("y")
    (root / "cache" / "link-to-file").symlink_to(outside / "precious")
    (root / "cache" / "link-to-dir").symlink_to(outside)
    (root / "escape").symlink_to(outside)
    context = ctx(clearable_roots=(str(root),))

    out = remedies.clear_directory({"path": str(root / "cache")}, context)

    assert out.status == "succeeded", out
    assert list((root / "cache").iterdir()) == []
    assert (outside / "precious").read_text() == "keep"
    assert out.data["removed_files"] == 4 and out.data["removed_dirs"] == 1
    for path in (str(outside), str(root / "escape"), "/etc", str(root / ".." / "outside")):
        with pytest.raises(BadParams, match="clearable root"):
            remedies.clear_directory({"path": path}, context)
    with pytest.raises(BadParams, match="absolute"):
        remedies.clear_directory({"path": "cache"}, context)


def test_clear_directory_older_than(tmp_path):
    old, new = tmp_path / "old.tmp", tmp_path / "new.tmp"
    old.write_text("o")
    new.write_text("n")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    out = remedies.clear_directory({"path": str(tmp_path), "older_than_days": 7},
                                   ctx(clearable_roots=(str(tmp_path),)))
    assert out.status == "succeeded" and not old.exists() and new.exists()


def test_health_check_all_given_checks_must_pass(tools):
    tools.add("systemctl", stdout="active")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        out = remedies.health_check({"service": "nginx", "port": listener.getsockname()[1],
                                     "url": url, "disk_percent": 100}, ctx())
        assert out.status == "succeeded", out.stdout
        assert out.data["passed"] is True
        assert [c["check"] for c in out.data["checks"]] == ["service", "port", "url",
                                                            "disk_percent"]
        assert tools.calls() == [["systemctl", "is-active", "--", "nginx"]]
        tools.add("systemctl", exit_code=3, stdout="inactive")
        down = remedies.health_check({"service": "nginx", "url": url + "missing"}, ctx())
        assert (down.status, down.exit_code, down.data["passed"]) == ("failed", 1, False)
        assert [c["ok"] for c in down.data["checks"]] == [False, False]
    finally:
        server.shutdown()
        listener.close()
    with pytest.raises(BadParams, match="at least one"):
        remedies.health_check({}, ctx())


def test_a_builtin_action_job_end_to_end(state, signer, agent_id, tools):
    from test_actions import action_job, processor, run

    tools.add("systemctl")
    job = action_job(signer, agent_id, type="builtin", builtin="restart_service",
                     interpreter="", params={"name": "nginx"},
                     parameters=[{"name": "name", "type": "string", "required": True}])
    result = run(processor(state, signer, agent_id), job)
    assert (result["status"], result["exit_code"]) == ("succeeded", 0), result
    assert result["data"] == {"service": "nginx"}
    bad = action_job(signer, agent_id, type="builtin", builtin="restart_service",
                     interpreter="", params={"name": "-x"},
                     parameters=[{"name": "name", "type": "string"}])
    refused = run(processor(state, signer, agent_id), bad)
    assert (refused["status"], refused["reason"]) == ("refused", "bad_params")
    assert "'name'" in refused["stderr"]
