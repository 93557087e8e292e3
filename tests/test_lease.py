"""The background lease: one holder at a time on PostgreSQL, always held on SQLite."""

from __future__ import annotations

from clicksift.settings import Settings
from clicksift.storage import is_postgres, open_store
from clicksift.storage.lease import BackgroundLease, holder_name, lease_holder


def test_one_holder_at_a_time_and_the_next_takes_over(database: str) -> None:
    open_store(Settings(database=database)).close()
    first, second = BackgroundLease(database), BackgroundLease(database)
    try:
        assert first.renew()
        if not is_postgres(database):    # one machine: every process may do the work
            assert second.renew()
            return
        assert not second.renew() and first.renew()        # held, and still held
        with open_store(Settings(database=database), migrate=False) as store:
            assert lease_holder(store) == holder_name()
        first.release()                                    # a server stopping
        assert second.renew() and not first.renew()
    finally:
        first.release()
        second.release()


def test_an_unreachable_database_holds_no_lease() -> None:
    lease = BackgroundLease("postgresql://nobody@127.0.0.1:9/none", timeout=1)
    assert not lease.renew() and not lease.held


def test_the_holder_name_keeps_the_process_id() -> None:
    import os

    name = holder_name()
    assert name.endswith(f":{os.getpid()}") and len(name.encode()) <= 63
