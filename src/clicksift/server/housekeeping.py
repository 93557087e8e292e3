"""The tracking server's background work, in one process of its own at a lower priority.

`clicksift serve` starts one housekeeper beside its workers. It counts new events into the
report rollups, delivers outbound webhooks, settles provisional verdicts (server/settle.py),
moves events older than keep_events_days into the archive (server/retention.py) and, on
SQLite, checkpoints the write-ahead log.
Workers then only answer requests: a report refresh that reads many events never holds a
worker's interpreter while clicks wait, and several workers do not each repeat the same
background work. The housekeeper runs at a lower CPU priority, so under load the redirects
come first and the rollups catch up when the load passes (a report asked for meanwhile
counts what it needs itself).

When the app runs without `clicksift serve` (embedded in another ASGI server), it does this
work in threads of its own process, as before.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

from clicksift.classify import engine_from_settings
from clicksift.configuration import load_settings
from clicksift.protect.outbound import Dispatcher
from clicksift.reports.refresher import RollupRefresher
from clicksift.server.retention import Retention
from clicksift.server.settle import Settler
from clicksift.settings import Settings
from clicksift.storage import is_postgres, open_store
from clicksift.storage.lease import BackgroundLease, holder_name
from clicksift.storage.pool import StorePool
from clicksift.storage.sqlite import Checkpointer

log = logging.getLogger("clicksift.housekeeping")

#: Set in the workers' environment by `clicksift serve`: a file holding the housekeeper's
#: process id. Workers that see it leave the background work to that process.
HOUSEKEEPER_ENV = "_CLICKSIFT_HOUSEKEEPER_PIDFILE"
#: How much lower than the workers the housekeeper runs (Unix nice increment).
NICE = 10
RESTART_SECONDS = 5.0
#: How often a server without the background lease tries for it (and the holder checks it).
LEASE_SECONDS = 2.0


class Housekeeping:
    """The background jobs of one tracking server: started and stopped together.

    Several servers on one PostgreSQL share the work out by a lease (storage/lease.py):
    only the holder runs the jobs; the others try for the lease every LEASE_SECONDS and
    take the jobs over when the holder is gone."""

    def __init__(self, settings: Settings, pool: StorePool | None = None) -> None:
        self.settings = settings
        self.pool = pool if pool is not None else StorePool(settings, size=1)
        self.rollups = RollupRefresher(self.pool, settings.report_refresh_seconds)
        self.checkpointer: Checkpointer | None = None
        self.dispatcher: Dispatcher | None = None
        self.settler: Settler | None = None
        self.retention: Retention | None = None
        self.lease = BackgroundLease(settings.database)
        self._running = False
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        if not is_postgres(self.settings.database):
            self.checkpointer = Checkpointer(self.settings.database)
            self.checkpointer.start()
            self._start_jobs()
            return
        self._follow_lease()
        self._watch = threading.Thread(target=self._lease_loop, name="clicksift-lease",
                                       daemon=True)
        self._watch.start()

    def _lease_loop(self) -> None:
        while not self._stop.wait(LEASE_SECONDS):
            self._follow_lease()

    def _follow_lease(self) -> None:
        held = self.lease.renew()
        if held and not self._running:
            log.info("this server does the background work (rollups, outbound webhooks, "
                     "settling): it holds the lease as %r", holder_name())
            self._start_jobs()
        elif not held and self._running:
            log.warning("the background lease was lost (the database went away); another "
                        "server takes the work over")
            self._stop_jobs()

    def _start_jobs(self) -> None:
        settings = self.settings
        self._running = True
        self.rollups.start()
        engine = engine_from_settings(settings)
        self.dispatcher = Dispatcher(
            settings, lambda: open_store(settings, migrate=False, checkpoint=False), engine)
        self.dispatcher.start()
        self.settler = Settler(settings.settle_after_seconds, lambda: open_store(
            settings, migrate=False, checkpoint=False), engine)
        self.settler.start()
        self.retention = Retention(settings, lambda: open_store(
            settings, migrate=False, checkpoint=False))
        self.retention.start()

    def _stop_jobs(self) -> None:
        self._running = False
        self.rollups.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        if self.settler is not None:
            self.settler.stop()
            self.settler = None
        if self.retention is not None:
            self.retention.stop()
            self.retention = None

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.join(10)
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self._stop_jobs()
        self.pool.close()
        self.lease.release()


def runs_elsewhere() -> bool:
    """Whether `clicksift serve` runs a housekeeper beside this worker."""
    return bool(os.environ.get(HOUSEKEEPER_ENV))


def external_state() -> str:
    """'running' or 'not running': the housekeeper `clicksift serve` started, seen from a
    worker (the health check reports it)."""
    try:
        pid = int(Path(os.environ[HOUSEKEEPER_ENV]).read_text())
        os.kill(pid, 0)
    except (KeyError, OSError, ValueError):
        return "not running"
    return "running"


class Supervisor:
    """Starts the housekeeper process beside the server and starts it again if it dies.

    The environment of the workers must carry ``HOUSEKEEPER_ENV`` (see :meth:`worker_env`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="clicksift-serve-")
        self.pid_file = Path(self._folder.name) / "housekeeper.pid"
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def worker_env(self) -> dict[str, str]:
        return {HOUSEKEEPER_ENV: str(self.pid_file)}

    def start(self) -> None:
        self.process = self._spawn()
        self._watch = threading.Thread(target=self._run, name="clicksift-supervisor",
                                       daemon=True)
        self._watch.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "clicksift.server.housekeeping",
                                    str(os.getpid())], env={**os.environ, **self.env})
        self.pid_file.write_text(str(process.pid))
        return process

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            process = self.process
            if process is None or process.poll() is None:
                continue
            log.error("the housekeeper (rollups, outbound webhooks, checkpoints) exited with "
                      "status %s; starting it again in %.0f s", process.returncode,
                      RESTART_SECONDS)
            if self._stop.wait(RESTART_SECONDS):
                return
            self.process = self._spawn()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._folder.cleanup()


def main(server_pid: int) -> None:
    """Run the background jobs until SIGTERM, or until the server (SERVER_PID) goes away."""
    settings = load_settings().settings
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        os.nice(NICE)
    except OSError as exc:  # not allowed here: run at the workers' priority
        log.info("the housekeeper keeps the normal priority (%s)", exc)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    jobs = Housekeeping(settings)
    jobs.start()
    try:
        while not stop.wait(1.0):
            if os.getppid() != server_pid:  # the server was killed: do not outlive it
                break
    finally:
        started = time.monotonic()
        jobs.stop()
        log.debug("housekeeper stopped in %.1f s", time.monotonic() - started)


if __name__ == "__main__":
    main(int(sys.argv[1]))
