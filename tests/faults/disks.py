"""Small disks for fault tests: a tmpfs of a given size, an ext4 image on a loop device
(which fsfreeze can stall). Both need root, as CI has; elsewhere the tests say why they
skip."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def tool(name: str) -> str:
    """The path of a system tool (sbin may be off a user's PATH), or skip the test."""
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in ("/usr/sbin", "/sbin") if os.access(f"{d}/{name}", os.X_OK)),
        None)
    if found is None:
        pytest.skip(f"{name} is not installed (scripts/system-deps installs it)")
    return found


def _mount(arguments: list[str], folder: Path) -> None:
    mounted = subprocess.run(["mount", *arguments, str(folder)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount here ({mounted.stderr.strip()}): run as root, as CI does")


@contextlib.contextmanager
def small_disk(folder: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of MEGABYTES at FOLDER."""
    folder.mkdir()
    _mount(["-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs"], folder)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def loop_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB ext4 filesystem on a loop device at TMP_PATH/disk (thawed when done)."""
    image, folder = tmp_path / "disk.img", tmp_path / "disk"
    folder.mkdir()
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    subprocess.run([tool("mkfs.ext4"), "-q", str(image)], check=True, capture_output=True)
    _mount(["-o", "loop", str(image)], folder)
    try:
        yield folder
    finally:
        subprocess.run([tool("fsfreeze"), "-u", str(folder)], capture_output=True)
        subprocess.run(["umount", "-l", str(folder)], check=False)
