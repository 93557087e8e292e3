"""Helpers the tests share: free ports, a real tracking server in a subprocess, PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EMAILS = FIXTURES / "emails"
#: The package's source tree (tests normally run the installed package, not this).
SOURCE = ROOT / "src" / "clicksift"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    env: dict[str, str]
    log_path: Path

    def url(self, tracking_url: str) -> str:
        """Point a tracking URL made for the configured base at this server."""
        path = tracking_url.split("://", 1)[1].split("/", 1)[1]
        return f"{self.base_url}/{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the server and its workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=15)


def start_server(env_overrides: dict[str, str], tmp: Path, *, server: str = "granian",
                 timeout: float = 20.0, tls: bool = False) -> ServerProcess:
    port = free_port()
    env = {**os.environ, "CLICKSIFT_PORT": str(port), "CLICKSIFT_HOST": "127.0.0.1",
           "CLICKSIFT_SERVER": server, "CLICKSIFT_LOG_LEVEL": "warning", **env_overrides}
    log_path = tmp / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "clicksift", "serve"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    scheme = "https" if tls else "http"
    server_process = ServerProcess(process, f"{scheme}://127.0.0.1:{port}", env, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server_process.log()}")
        try:
            if httpx.get(f"{server_process.base_url}/healthz", timeout=1,
                         verify=not tls).status_code == 200:
                return server_process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server_process.kill()
    raise RuntimeError(f"server did not start:\n{server_process.log()}")


@contextlib.contextmanager
def running_server(env_overrides: dict[str, str], tmp: Path,
                   server: str = "granian", tls: bool = False) -> Iterator[ServerProcess]:
    proc = start_server(env_overrides, tmp, server=server, tls=tls)
    try:
        yield proc
    except BaseException:
        print(f"--- server log ({proc.log_path}) ---\n{proc.log()}")
        raise
    finally:
        if proc.process.poll() is None:
            proc.kill(signal.SIGTERM)


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary folder (initdb + pg_ctl)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="clicksift-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def available() -> bool:
        return shutil.which("initdb") is not None and shutil.which("pg_ctl") is not None

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        data = self.folder / "data"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "log"), "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} "
                  f"-c unix_socket_directories={self.folder} -c fsync=off "
                  "-c max_connections=100", "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def fresh_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def delivered_message(database: str, keys: str, recipient: str = "ann@example.com",
                      campaign: str = "june") -> Any:
    """A store at DATABASE holding one message prepared from the fragment email for
    RECIPIENT (tracking host t.example.net, signed with KEYS) and its delivery."""
    from clicksift.events import event_from_dict
    from clicksift.links import TrackingUrls, load_signer
    from clicksift.prepare import Preparer
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    store = open_store(Settings(database=database, signing_keys=keys))
    try:
        preparer = Preparer(TrackingUrls("https://t.example.net", load_signer(keys, store)))
        prepared = preparer.prepare((EMAILS / "fragment.html").read_text(),
                                    recipient=recipient, campaign_id=campaign)
        with store.transaction():
            store.add_events([event_from_dict(prepared.delivered_event())])
    finally:
        store.close()
    return prepared


class TwoBatchesAtOnce:
    """The real engine, but the first batch's judging waits until a second batch is being
    judged in another thread: two bodies are then in the worker at once."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.version = engine.version
        self.threads: set[int] = set()
        self.lock = threading.Lock()
        self.second = threading.Event()

    def provisional(self, event: Any) -> Any:
        me = threading.get_ident()
        with self.lock:
            first_seen = me not in self.threads
            self.threads.add(me)
            first = first_seen and len(self.threads) == 1
            if first_seen and len(self.threads) == 2:
                self.second.set()
        if first:
            assert self.second.wait(10), "the second batch never came"
        return self.engine.provisional(event)
