"""The CLI (status, enroll against a small real HTTP server, configuration) and the
backoff arithmetic of AGENT.md."""

from __future__ import annotations

import json
import os
import random
import stat
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import Signer

from itsm_agent import cli
from itsm_agent import log as agent_log
from itsm_agent.channel import backoff_delay, restart_jitter
from itsm_agent.config import ConfigError, load_config
from itsm_agent.state import State


def test_backoff_bounds_and_cap():
    rng = random.Random(3)
    for attempt in range(12):
        nominal = min(60.0, 2.0 ** attempt)
        for _ in range(200):
            delay = backoff_delay(attempt, rng)
            assert 0.5 * nominal <= delay <= 1.5 * nominal
    delays = [backoff_delay(50, rng) for _ in range(500)]
    assert max(delays) <= 90 and min(delays) >= 30  # capped at 60 s × [0.5, 1.5]
    assert max(delays) - min(delays) > 30  # and really spread


def test_restart_jitter_range():
    rng = random.Random(5)
    values = [restart_jitter(10, rng) for _ in range(500)]
    assert all(0 <= v <= 10 for v in values) and max(values) > 8 and min(values) < 2
    assert restart_jitter(0, rng) == 0


def test_status_on_an_empty_state_dir(tmp_path, capsys):
    code = cli.main(["status", "--state-dir", str(tmp_path / "s"),
                     "--config-dir", str(tmp_path / "c"), "--json"])
    assert code == 1
    info = json.loads(capsys.readouterr().out)
    assert info["enrolled"] is False and info["agent_id"] is None
    assert info["pending_results"] == 0 and info["revoked"] is False


def test_status_when_enrolled(state, tmp_path, capsys):
    assert cli.main(["status", "--state-dir", str(state.path),
                     "--config-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert state.identity()["agent_id"] in out and "pending results" in out


def test_run_without_enrolment_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["run", "--state-dir", str(tmp_path / "s"),
                     "--config-dir", str(tmp_path / "c")]) == 2
    assert "itsm-agent enroll" in capsys.readouterr().err


def test_config_file_and_environment(tmp_path):
    cdir = tmp_path / "etc"
    cdir.mkdir()
    (cdir / "agent.toml").write_text('server = "https://itsm.example.org/"\n'
                                     'heartbeat_seconds = 30\nprefer_longpoll = true\n'
                                     'reconnect_jitter = 5\nlog_level = "debug"\n'
                                     f'state_dir = "{tmp_path / "from-file"}"\n')
    config = load_config(environ={"ITSM_AGENT_CONFIG_DIR": str(cdir)})
    assert config.server == "https://itsm.example.org"
    assert config.heartbeat_seconds == 30 and config.inventory_seconds is None
    assert config.prefer_longpoll is True and config.reconnect_jitter == 5.0
    assert config.log_level == "DEBUG" and config.state_dir == tmp_path / "from-file"
    env = {"ITSM_AGENT_CONFIG_DIR": str(cdir), "ITSM_AGENT_STATE_DIR": str(tmp_path / "env")}
    assert load_config(environ=env).state_dir == tmp_path / "env"
    assert load_config(state_dir=tmp_path / "cli", environ=env).state_dir == tmp_path / "cli"


@pytest.mark.parametrize("text", ['heartbeat_seconds = "60"', "nonsense = 1",
                                  "prefer_longpoll = 1", "heartbeat_seconds = 1",
                                  "log_level = 'loud'", "server = "])
def test_bad_config_is_refused(tmp_path, text):
    (tmp_path / "agent.toml").write_text(text + "\n")
    with pytest.raises(ConfigError):
        load_config(config_dir=tmp_path, environ={})


def test_journald_format_without_timestamps(capsys):
    import io
    import logging
    stream = io.StringIO()
    agent_log.setup("INFO", stream=stream, environ={"INVOCATION_ID": "abc"})
    logging.getLogger("itsm_agent.test").warning("careful")
    assert stream.getvalue() == "<4>itsm_agent.test: careful\n"
    stream = io.StringIO()
    agent_log.setup("INFO", stream=stream, environ={})
    logging.getLogger("itsm_agent.test").info("hello")
    assert stream.getvalue().endswith("INFO itsm_agent.test: hello\n")
    assert stream.getvalue()[:4].isdigit()  # a timestamp outside systemd


class EnrolServer:
    def __init__(self, status: int, body: dict) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.path = self.path
                outer.requests.append(json.loads(
                    self.rfile.read(int(self.headers["Content-Length"]))))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_enroll_stores_identity_token_and_keys(tmp_path, capsys):
    signer = Signer()
    agent_id = str(uuid.uuid4())
    server = EnrolServer(201, {"agent_id": agent_id, "token": "secret-token",
                               "signing_keys": [signer.pinned], "heartbeat_seconds": 60,
                               "inventory_seconds": 900, "reenrolled": True})
    sdir = tmp_path / "state"
    try:
        code = cli.main(["enroll", "--server", server.url + "/", "--secret", "S3CRET",
                         "--state-dir", str(sdir), "--config-dir", str(tmp_path / "c")])
    finally:
        server.close()
    assert code == 0
    assert server.path == "/agent/v1/enroll"
    request = server.requests[0]
    assert request["secret"] == "S3CRET"
    assert {"hostname", "domain", "os_name", "os_version", "serial_number", "mac_addresses",
            "ip_addresses", "agent_version"} == set(request["facts"])
    state = State(sdir)
    assert state.token() == "secret-token"
    assert stat.S_IMODE(os.stat(sdir / "token").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(sdir).st_mode) == 0o700
    identity = state.identity()
    assert identity["agent_id"] == agent_id and identity["server"] == server.url
    assert identity["signing_keys"] == [signer.pinned] and identity["inventory_seconds"] == 900
    assert "same agent id" in capsys.readouterr().out


@pytest.mark.parametrize(("status", "code", "words"), [
    (403, "secret_invalid", "not valid"), (403, "secret_expired", "expired"),
    (403, "secret_exhausted", "use limit"), (403, "secret_revoked", "revoked"),
    (400, "bad_request", "malformed"),
])
def test_enroll_errors_are_explained(tmp_path, capsys, status, code, words):
    server = EnrolServer(status, {"code": code, "message": "nope"})
    try:
        exit_code = cli.main(["enroll", "--server", server.url, "--secret", "x",
                              "--state-dir", str(tmp_path / "s"),
                              "--config-dir", str(tmp_path / "c")])
    finally:
        server.close()
    assert exit_code == 2
    err = capsys.readouterr().err
    assert words in err and "nope" in err
    assert not (tmp_path / "s" / "token").exists()


def test_enroll_with_the_server_down(tmp_path, capsys):
    assert cli.main(["enroll", "--server", "http://127.0.0.1:9", "--secret", "x",
                     "--state-dir", str(tmp_path / "s"),
                     "--config-dir", str(tmp_path / "c")]) == 2
    assert "cannot reach" in capsys.readouterr().err
