#!/usr/bin/env python3
"""Start a real Prefect server on loopback for integration tests.

Importable (``start_prefect_server``) and runnable as a CLI:

    python scripts/prefect_server.py --home /tmp/prefect-home [--port N] [--auth-string user:pass]

The CLI prints the API URL on one line, then runs until SIGINT/SIGTERM.
The server always runs in its own session (process group) so that stopping it
kills every process it spawned; nothing is left behind.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType, TracebackType

HOST = "127.0.0.1"
DEFAULT_STARTUP_TIMEOUT = 90.0
STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 40

# Environment variables removed from the child: they would point the server's
# own client machinery at some other server or credentials.
_CHILD_ENV_DROP = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE")

# urllib honours *_PROXY variables even for loopback; the health probe must not.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_loopback_port() -> int:
    """Ask the kernel for a currently unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _ensure_port_free(port: int) -> None:
    # Without this check a server already listening on the port would answer
    # the health probe, and we would report the wrong server as ours.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise RuntimeError(f"port {port} on {HOST} is already in use") from exc


def _prefect_command(python: Path | None = None) -> list[str]:
    """Use the `prefect` entry point next to `python` (default: this interpreter), else
    `python -m prefect`."""
    # absolute(), not resolve(): a virtualenv's python is a symlink out of the venv.
    python = Path(python or sys.executable).absolute()
    sibling = python.with_name("prefect")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    return [str(python), "-m", "prefect"]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<could not read {path}: {exc}>"


class PrefectServer:
    """A running `prefect server start` process group."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        home: Path,
        log_path: Path,
        auth_string: str | None,
    ) -> None:
        self.process = process
        self.port = port
        self.home = home
        self.log_path = log_path
        self.auth_string = auth_string
        self.base_url = f"http://{HOST}:{port}"
        self.api_url = f"{self.base_url}/api"

    def auth_headers(self) -> dict[str, str]:
        if not self.auth_string:
            return {}
        token = base64.b64encode(self.auth_string.encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def is_healthy(self) -> bool:
        request = urllib.request.Request(f"{self.api_url}/health", headers=self.auth_headers())
        try:
            with _NO_PROXY_OPENER.open(request, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_until_healthy(self, timeout: float = DEFAULT_STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Prefect server exited with code {self.process.returncode} "
                    f"before becoming healthy. Tail of {self.log_path}:\n"
                    f"{_tail(self.log_path)}"
                )
            if self.is_healthy():
                return
            time.sleep(0.5)
        raise TimeoutError(
            f"Prefect server at {self.api_url} was not healthy after {timeout:.0f}s. "
            f"Tail of {self.log_path}:\n{_tail(self.log_path)}"
        )

    def _group_alive(self, pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # The leader may be a zombie we have not reaped yet; reap it so that a
        # group consisting only of that zombie counts as gone.
        self.process.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True

    def _wait_group_gone(self, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._group_alive(pgid):
                return True
            time.sleep(0.1)
        return not self._group_alive(pgid)

    def stop(self) -> None:
        """Stop the server and everything it spawned. Safe to call repeatedly."""
        # start_new_session=True made the server a session and group leader,
        # so its pid is the process-group id of all its descendants.
        pgid = self.process.pid
        if self._group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            if not self._wait_group_gone(pgid, STOP_GRACE_SECONDS):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                self._wait_group_gone(pgid, STOP_GRACE_SECONDS)
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> PrefectServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def server_env(home: Path, auth_string: str | None, settings: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            # The scheduler would add runs on its own and make the dataset
            # non-deterministic; tests create every run explicitly.
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
    )
    if auth_string:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    else:
        env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
    env.update(settings or {})
    return env


def start_prefect_server(
    home: Path,
    port: int | None = None,
    auth_string: str | None = None,
    log_path: Path | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    settings: dict[str, str] | None = None,
    python: Path | None = None,
) -> PrefectServer:
    """Start `prefect server start` on 127.0.0.1 and wait until /api/health is 200.

    The server's stdout/stderr go to ``log_path`` (default ``home/server.log``).
    ``settings`` are extra PREFECT_* environment variables for the server.
    ``python`` is the interpreter of the Prefect install to run (default: this one), e.g.
    an older release in its own virtualenv.
    On any startup failure the process group is stopped before raising.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = free_loopback_port()
    else:
        _ensure_port_free(port)
    log_path = Path(log_path) if log_path else home / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    command = [*_prefect_command(python), "server", "start", "--host", HOST, "--port", str(port)]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=server_env(home, auth_string, settings),
            cwd=home,
            start_new_session=True,
        )
    server = PrefectServer(process, port, home, log_path, auth_string)
    try:
        server.wait_until_healthy(startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def temporary_server(work: Path, prefix: str, **options):
    """A fresh server (`start_prefect_server` options) in a temporary home under `work`,
    stopped and removed afterwards; yields the server and its home."""
    import shutil
    import tempfile

    work.mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=work))
    server = start_prefect_server(home, **options)
    try:
        yield server, home
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def seeded_server(work: Path, prefix: str, api_url: str | None = None):
    """Yields (api URL, seed manifest): `api_url` as given (no manifest), else a fresh server in a
    temporary home under `work`, seeded by seed_prefect.py, stopped and removed afterwards."""
    if api_url:
        yield api_url, None
        return
    from seed_prefect import seed

    print("starting and seeding a Prefect server ...", file=sys.stderr)
    with temporary_server(work, prefix) as (server, _):
        yield server.api_url, seed(server.api_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="PREFECT_HOME for the server")
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--auth-string", help="enable Basic auth with 'user:pass'")
    parser.add_argument("--log", type=Path, help="server log file (default: HOME/server.log)")
    args = parser.parse_args(argv)

    stop_requested = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    # Install handlers before starting so a signal during startup still
    # reaches the cleanup below instead of killing us and orphaning the server.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    try:
        server = start_prefect_server(args.home, args.port, args.auth_string, args.log)
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(server.api_url, flush=True)
        while not stop_requested:
            if server.process.poll() is not None:
                print(
                    f"Prefect server exited unexpectedly (code {server.process.returncode}); "
                    f"tail of {server.log_path}:\n{_tail(server.log_path)}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
