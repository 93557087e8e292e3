"""Run the tracking app under a production ASGI server (granian or uvicorn)."""

from __future__ import annotations

import logging
import os

from clicksift.server.housekeeping import Supervisor
from clicksift.settings import Settings, settings_to_env

APP_FACTORY = "clicksift.server.app:create_app"


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


def _run_granian(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    Granian(APP_FACTORY, factory=True, address=settings.host, port=settings.port,
            interface=Interfaces.ASGI, workers=settings.workers, loop=Loops.uvloop,
            log_level=LogLevels(settings.log_level), log_access=False, backlog=2048).serve()


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(APP_FACTORY, factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, loop="uvloop", http="httptools", lifespan="on",
                log_level=settings.log_level, access_log=False, backlog=2048)
