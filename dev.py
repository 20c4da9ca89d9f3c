#!/usr/bin/env python3
"""The two commands of the README, needing nothing but Python 3.11+.

    python3 dev.py run     # venv, install, migrate, demo data; web + worker + beat
    python3 dev.py test    # venv with test tools; the whole suite (extra args go to pytest)

Both are idempotent: the virtual environment in .venv is reused, and packages are
installed again only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ITSM_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def run(*args: str | os.PathLike, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_environment(extra: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py runs before any venv exists)
        sys.exit(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]}).")
    if not PYTHON.exists():
        say(f"Creating the virtual environment in {VENV}")
        venv.create(VENV, with_pip=True)
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    agent_project = (ROOT / "agent" / "pyproject.toml").read_bytes()
    fingerprint = hashlib.sha256(pyproject + agent_project + extra.encode()).hexdigest()
    stamp = VENV / f".installed-{extra or 'base'}"
    if stamp.exists() and stamp.read_text() == fingerprint:
        return
    say("Installing packages (only when pyproject.toml changed)")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extra}]" if extra else "."
    run(PYTHON, "-m", "pip", "install", "--quiet", "--editable", target)
    # The endpoint agent's own package: its tests, and the simulator that plays the demo
    # fleet in the embedded run.
    run(PYTHON, "-m", "pip", "install", "--quiet", "--editable", str(ROOT / "agent"))
    stamp.write_text(fingerprint)


def command_run() -> None:
    ensure_environment("")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "itsm.settings"}
    say("Applying database migrations")
    run(PYTHON, "manage.py", "migrate", "--no-input", env=env)
    say("Loading the demo organisation")
    run(PYTHON, "manage.py", "load_demo", env=env)
    host = env.setdefault("ITSM_HOST", "127.0.0.1")
    port = env.setdefault("ITSM_PORT", "8000")
    say(f"Starting web, worker and beat. Open http://{host}:{port}/  (Ctrl-C stops all three)")
    print(f"    desk:   http://{host}:{port}/desk/   as agent / demo-Service-2026")
    print(f"    portal: http://{host}:{port}/portal/ as requester / demo-Service-2026")
    print(f"    API:    http://{host}:{port}/api/docs/", flush=True)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    os.chdir(ROOT)
    os.execve(str(BIN / "honcho"), ["honcho", "start", "-f", "Procfile"], env)


def parallel_args(args: list[str]) -> list[str]:
    """pytest-xdist's options: one test process per core (at most 4), the browser
    journeys kept on one of them; none when the caller chose (-n, -p no:xdist) or
    ITSM_TEST_WORKERS=0|1."""
    if any(a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses="))
           for a in args):
        return []
    workers = int(os.environ.get("ITSM_TEST_WORKERS") or min(os.cpu_count() or 1, 4))
    # Groups in the order pytest-django sorted the tests (tests/conftest.py), not largest
    # first.
    return (["-n", str(workers), "--dist", "loadgroup", "--no-loadscope-reorder"]
            if workers > 1 else [])


def command_test(args: list[str]) -> None:
    ensure_environment("dev")
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest.ini picks the test overlay
    say("Linting (ruff)")
    run(BIN / "ruff", "check", ".")
    say("Checking that every model change has its migration")
    run(PYTHON, "manage.py", "makemigrations", "--check", "--dry-run",
        env={**env, "DJANGO_SETTINGS_MODULE": "itsm.settings"})
    database = env.get("DATABASE_URL", "sqlite (embedded)").split("@")[-1]
    args = [*parallel_args(args), *args]
    say(f"Running the test suite on {database}" + (f" in {args[1]} processes" if args[:1]
                                                    == ["-n"] else ""))
    result = subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)
    sys.exit(result.returncode)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        sys.exit(__doc__)
    if sys.argv[1] == "run":
        command_run()
    else:
        command_test(sys.argv[2:])


if __name__ == "__main__":
    main()
