"""The installation the tests run: compiled where setup.py can compile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import clicksift
from clicksift import classify
from clicksift.classify import batch, engine, observe
from clicksift.classify.signals import context, crossmessage
from tests.support import SOURCE


def test_an_installed_package_runs_the_compiled_classifier() -> None:
    """`make test` (CLICKSIFT_REQUIRE_COMPILED=1) installs a compiler first, then the
    package: a silent fall-back to plain Python (say, a module mypyc rejects) fails here."""
    if Path(clicksift.__file__).resolve().parent == SOURCE:
        pytest.skip("running the source tree (editable install or PYTHONPATH=src)")
    if os.environ.get("CLICKSIFT_PURE_PYTHON") == "1":
        pytest.skip("installed with CLICKSIFT_PURE_PYTHON=1")
    if os.environ.get("CLICKSIFT_REQUIRE_COMPILED") != "1" and not classify.COMPILED:
        pytest.skip("installed as plain Python (no compiler, or CLICKSIFT_PURE_PYTHON=1)")
    modules = [engine, observe, batch, context, crossmessage]
    assert all(not (m.__file__ or "").endswith(".py") for m in modules), \
        [m.__file__ for m in modules]
    assert classify.COMPILED


def test_the_version_says_how_the_classifier_runs() -> None:
    from click.testing import CliRunner

    from clicksift.cli import main

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert clicksift.__version__ in result.output
    assert ("compiled by mypyc" in result.output) == classify.COMPILED
    assert ("plain Python" in result.output) == (not classify.COMPILED)
