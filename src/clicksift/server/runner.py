"""Run the tracking app under a production ASGI server (granian or uvicorn)."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

from clicksift.configuration import settings_to_env
from clicksift.server.housekeeping import Supervisor
from clicksift.settings import Settings

APP_FACTORY = "clicksift.server.app:create_app"
#: How long granian waits for a stopping worker before it kills it.
WORKER_KILL_SECONDS = 15


def run(settings: Settings) -> None:
    """Serve until interrupted. Workers read the settings from the environment; the
    background work runs in a housekeeper process beside them (server/housekeeping.py)."""
    env = settings_to_env(settings)
    os.environ.update(env)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    supervisor = Supervisor(env)
    supervisor.start()
    os.environ.update(supervisor.worker_env())
    try:
        if settings.server == "uvicorn":
            _run_uvicorn(settings)
        else:
            _run_granian(settings)
    finally:
        supervisor.stop()


def _hangups_ignored() -> bool:
    """Whether hang-ups are ignored here (`nohup`, a service manager): then a closed
    terminal must not stop the server."""
    return signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


def _run_granian(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    ignored = _hangups_ignored()

    class Server(Granian):  # type: ignore[misc,valid-type]
        """Granian, stopping on a hang-up (a closed terminal) as on Ctrl-C, where granian
        itself would restart its workers and keep running with no terminal."""

        def signal_handler_reload(self, *args: Any, **kwargs: Any) -> None:
            if not ignored:
                self.signal_handler_interrupt(*args, **kwargs)

    # A worker can deadlock in granian's runtime teardown when a thread hands work back to
    # the loop as it stops (emmett-framework/granian#875; seen here once in 13 SIGINTs):
    # past this many seconds granian kills it. Nothing answered is lost by that (every
    # answered event is durable), and the recorder's own drain takes at most 10 s.
    Server(APP_FACTORY, factory=True, address=settings.host, port=settings.port,
            interface=Interfaces.ASGI, workers=settings.workers, loop=Loops.uvloop,
            log_level=LogLevels(settings.log_level), log_access=False, backlog=2048,
            workers_kill_timeout=WORKER_KILL_SECONDS, **_granian_tls(settings)).serve()


def _granian_tls(settings: Settings) -> dict[str, Any]:
    if not settings.tls_certificate:
        return {}
    return {"ssl_cert": Path(settings.tls_certificate), "ssl_key": Path(settings.tls_key)}


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    if not _hangups_ignored():   # a hang-up stops the server as SIGTERM does
        signal.signal(signal.SIGHUP, lambda *_: os.kill(os.getpid(), signal.SIGTERM))

    uvicorn.run(APP_FACTORY, factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, loop="uvloop", http="httptools", lifespan="on",
                log_level=settings.log_level, access_log=False, backlog=2048,
                ssl_certfile=settings.tls_certificate or None,
                ssl_keyfile=settings.tls_key or None)
