"""The installation the tests run: compiled where setup.py can compile."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import pytest

import clicksift
from clicksift import classify
from clicksift.classify import batch, engine, observe
from clicksift.classify.signals import context, crossmessage

SOURCE = Path(__file__).resolve().parent.parent / "src" / "clicksift"


def test_an_installed_package_runs_the_compiled_classifier() -> None:
    installed = Path(clicksift.__file__).resolve().parent
    if installed == SOURCE:
        pytest.skip("running the source tree (editable install or PYTHONPATH=src)")
    if os.environ.get("CLICKSIFT_PURE_PYTHON") == "1":
        pytest.skip("installed with CLICKSIFT_PURE_PYTHON=1")
    if shutil.which("cc") is None or not (Path(sysconfig.get_paths()["include"])
                                          / "Python.h").is_file():
        pytest.skip("no C compiler or Python headers here: setup.py builds pure Python")
    modules = [engine, observe, batch, context, crossmessage]
    assert all(not (m.__file__ or "").endswith(".py") for m in modules), \
        [m.__file__ for m in modules]
    assert classify.COMPILED
