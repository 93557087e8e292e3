"""A durable waiting room for events the store could not take.

When a commit fails, the batch is appended to a spool file (and fsynced) so the person still
gets their redirect; the recorder replays spool files into the store once it works again.
Several processes may share the folder: a replayer claims a file by renaming it, and writers
hold an exclusive lock while appending, so nothing is read half-written or lost.

**Reserved space.** A store that fails because its disk is full usually shares that disk
with the spool, and whatever space frees up, the store's own retries would take. Each
process therefore keeps a *reserve* in the spool folder: a file of ``reserve_bytes`` whose
blocks are allocated at start (``posix_fallocate``) and hold zeros. When an append finds
no space (ENOSPC, EDQUOT), the events are written into the reserve instead (over its
zeros: no new block is needed) and fsynced. Before a replay, a used reserve is cut to
what it holds and becomes an ordinary spool file; once the spool is empty again, a new
reserve is allocated. A reserve left by a process that died is taken over the same way.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from clicksift.errors import ClicksiftError
from clicksift.events import Event, dumps, event_from_dict

log = logging.getLogger("clicksift.spool")
_ACTIVE = "spool-{pid}.jsonl"
_CLAIMED = ".replaying"
_RESERVE = "reserve-{pid}"
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


class Spool:
    def __init__(self, folder: str | os.PathLike[str], reserve_bytes: int = 0) -> None:
        self.folder = Path(folder)
        self.reserve_bytes = reserve_bytes
        self.reserve_left = 0          # bytes of the reserve not yet written
        self._used = 0

    def _active_path(self) -> Path:
        return self.folder / _ACTIVE.format(pid=os.getpid())

    def _reserve_path(self) -> Path:
        return self.folder / _RESERVE.format(pid=os.getpid())

    # -- the reserve -----------------------------------------------------------------------

    def reserve(self) -> bool:
        """Allocate the reserve (real blocks of zeros, not a sparse file); False when the
        disk has not the room for it (no reserve then)."""
        if self.reserve_bytes <= 0:
            return True
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in self.folder.glob(_RESERVE.format(pid="*")):
            if stale != self._reserve_path() and not _pid_alive(stale.name.split("-")[-1]):
                self._retire(stale)          # left by a process that died
        path = self._reserve_path()
        if self._used:
            self._retire(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.reserve_bytes)
            os.fsync(fd)
        except OSError as exc:
            if exc.errno not in _NO_SPACE:
                raise
            os.close(fd)
            path.unlink(missing_ok=True)
            self.reserve_left = 0
            return False
        os.close(fd)
        self._used, self.reserve_left = 0, self.reserve_bytes
        return True

    def _append_reserved(self, payload: bytes) -> None:
        """Write PAYLOAD into the reserve's allocated zeros; OSError(ENOSPC) when it does
        not fit."""
        if len(payload) > self.reserve_left:
            raise OSError(errno.ENOSPC, "the spool's reserve is spent")
        fd = os.open(self._reserve_path(), os.O_WRONLY)
        try:
            written = 0
            while written < len(payload):
                written += os.pwrite(fd, payload[written:], self._used + written)
            os.fsync(fd)
        finally:
            os.close(fd)
        if not self._used:
            log.warning("the disk of %s is full: events are written into the spool's "
                        "reserve (%d bytes)", self.folder, self.reserve_left)
        self._used += len(payload)
        self.reserve_left -= len(payload)

    def _retire(self, path: Path) -> None:
        """Cut the reserve at PATH to the events it holds and make it a spool file (or
        remove it when it holds none). This process's own reserve holds what it wrote; a
        dead process's is read up to its first zero byte."""
        with open(path, "r+b") as handle:
            if path == self._reserve_path():
                used = self._used
            else:
                data = handle.read()
                used = data.find(b"\0")
                used = len(data) if used < 0 else used
            handle.truncate(used)
            handle.flush()
            os.fsync(handle.fileno())
        if used:
            os.rename(path, self.folder / f"spool-{path.name}.jsonl")
        else:
            path.unlink()
        if path == self._reserve_path():
            self._used = self.reserve_left = 0

    def drop_reserve(self) -> None:
        """At shutdown: what the reserve holds waits as a spool file; the rest is freed."""
        if self._reserve_path().exists():
            self._retire(self._reserve_path())

    # -- events ------------------------------------------------------------------------------

    def append(self, events: Sequence[Event], received_at: float) -> None:
        """Write EVENTS durably (fsync) or raise OSError; a full disk is met with the
        reserve while it lasts."""
        payload = "".join(dumps({"received_at": received_at, "event": e.raw}) + "\n"
                          for e in events).encode("utf-8")
        try:
            self._append(payload)
        except OSError as exc:
            if exc.errno not in _NO_SPACE or not self.reserve_bytes:
                raise
            self._append_reserved(payload)

    def _append(self, payload: bytes) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        while True:
            path = self._active_path()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # A replayer may have claimed (renamed) this file since we opened it.
                if os.fstat(fd).st_nlink == 0 or not _same_file(fd, path):
                    continue
                start = os.fstat(fd).st_size
                try:
                    written = memoryview(payload)
                    while written:
                        written = written[os.write(fd, written):]
                    os.fsync(fd)
                except OSError:
                    # No half line stays behind to spoil the file: the retry writes it all.
                    try:
                        os.ftruncate(fd, start)
                    except OSError as exc:
                        log.error("could not cut a half-written line from %s: %s", path, exc)
                    raise
                return
            finally:
                os.close(fd)

    def pending(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir()
                      if p.name.startswith("spool-") and p.suffix in {".jsonl", _CLAIMED})

    def replay(self, store_events: Callable[[list[Event], float], None]) -> int:
        """Hand every spooled event to STORE_EVENTS (which commits); return how many."""
        count = self._replay_pending(store_events)
        if self._used:          # the store works again: what the reserve holds goes too
            self._retire(self._reserve_path())
            count += self._replay_pending(store_events)
        return count

    def _replay_pending(self, store_events: Callable[[list[Event], float], None]) -> int:
        count = 0
        for path in self.pending():
            if path.suffix == _CLAIMED:
                if _claimed_by_live_process(path):
                    continue
                claimed = path  # left by a process that died while replaying
            else:
                claimed = path.with_suffix(f".{os.getpid()}{_CLAIMED}")
                try:
                    os.rename(path, claimed)
                except FileNotFoundError:
                    continue  # another process claimed it
            count += self._replay_file(claimed, store_events)
        return count

    def _replay_file(self, path: Path, store_events: Callable[[list[Event], float], None]) -> int:
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return 0
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # wait for a writer that still appends
            batches: dict[float, list[Event]] = {}
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    event = event_from_dict(item["event"])
                except (ValueError, KeyError, ClicksiftError) as exc:
                    log.error("spool file %s line %d is unreadable (%s); kept aside", path,
                              number, exc)
                    os.rename(path, path.with_suffix(".damaged"))
                    return 0
                batches.setdefault(float(item["received_at"]), []).append(event)
            for received_at, events in batches.items():
                store_events(events, received_at)
        path.unlink()
        return sum(len(events) for events in batches.values())


def _claimed_by_live_process(path: Path) -> bool:
    """True when the pid in 'spool-A.PID.replaying' is another process that is running."""
    parts = path.name.split(".")
    return len(parts) >= 2 and parts[-2] != str(os.getpid()) and _pid_alive(parts[-2])


def _pid_alive(text: str) -> bool:
    try:
        pid = int(text)
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (stat.st_dev, stat.st_ino) == (own.st_dev, own.st_ino)
