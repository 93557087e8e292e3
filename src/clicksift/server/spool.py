"""A durable waiting room for events the store could not take.

When a commit fails, the batch is appended to a spool file (and fsynced) so the person still
gets their redirect; the recorder replays spool files into the store once it works again.
Several processes may share the folder: a replayer claims a file by renaming it, and writers
hold an exclusive lock while appending, so nothing is read half-written or lost.
"""

from __future__ import annotations

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


class Spool:
    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _active_path(self) -> Path:
        return self.folder / _ACTIVE.format(pid=os.getpid())

    def append(self, events: Sequence[Event], received_at: float) -> None:
        """Write EVENTS durably (fsync) or raise OSError."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = "".join(dumps({"received_at": received_at, "event": e.raw}) + "\n"
                          for e in events).encode("utf-8")
        while True:
            path = self._active_path()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # A replayer may have claimed (renamed) this file since we opened it.
                if os.fstat(fd).st_nlink == 0 or not _same_file(fd, path):
                    continue
                os.write(fd, payload)
                os.fsync(fd)
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
    try:
        pid = int(path.name.split(".")[-2])
    except (ValueError, IndexError):
        return False
    if pid == os.getpid():
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
