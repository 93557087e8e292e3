"""What the API and the dashboard share: blocking store work run off the event loop.

Report queries and rollup refreshes are blocking database work; they run in Starlette's
thread pool with a store borrowed from the server's pool (:mod:`clicksift.storage.pool`),
so the tracking hot paths on the event loop never wait for them. A report first counts
recent events into the rollups, for at most REQUEST_REFRESH_BUDGET.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from clicksift import access, reports
from clicksift.storage.pool import StorePool

T = TypeVar("T")
#: A report asked for counts new events for at most this long first (the background
#: refresher does the rest).
REQUEST_REFRESH_BUDGET = 0.5
REQUEST_REFRESH_WINDOW = 20_000


class StoreWork:
    def __init__(self, pool: StorePool) -> None:
        self.pool = pool

    async def run(self, func: Callable[..., T], *args: Any, refresh: bool = True) -> T:
        """FUNC(store, *ARGS) in the thread pool, after counting recent events (REFRESH)."""
        def work() -> T:
            with self.pool.store() as store:
                if refresh:
                    reports.refresh(store, budget=REQUEST_REFRESH_BUDGET,
                                    window=REQUEST_REFRESH_WINDOW)
                return func(store, *args)
        return await run_in_threadpool(work)

    async def verify_key(self, presented: str) -> access.ApiKey | None:
        return await self.run(access.verify_key, presented, refresh=False)

    async def verify_password(self, name: str, password: str) -> bool:
        return await self.run(access.verify_password, name, password, refresh=False)
