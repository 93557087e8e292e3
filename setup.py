"""Build hook: compiles the classifier's hot modules to C extensions with mypyc.

Everything else lives in pyproject.toml. The compiled modules are the same Python source
(mypyc turns the type-annotated code into C); where no C compiler is at hand, or with
CLICKSIFT_PURE_PYTHON=1, or for editable installs, the package installs as plain Python
and behaves the same, only slower (docs/benchmarks.md has both figures).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

#: The modules batch classification spends its time in (benchmarks/classify.py).
COMPILED = [
    "src/clicksift/events.py",
    "src/clicksift/classify/agents.py",
    "src/clicksift/classify/batch.py",
    "src/clicksift/classify/buckets.py",
    "src/clicksift/classify/engine.py",
    "src/clicksift/classify/flat_findings.py",
    "src/clicksift/classify/knowledge.py",
    "src/clicksift/classify/memo.py",
    "src/clicksift/classify/networks.py",
    "src/clicksift/classify/observe.py",
    "src/clicksift/classify/ranges.py",
    "src/clicksift/classify/signals/__init__.py",
    "src/clicksift/classify/signals/context.py",
    "src/clicksift/classify/signals/crossmessage.py",
    "src/clicksift/classify/signals/esp.py",
    "src/clicksift/classify/signals/network.py",
    "src/clicksift/classify/signals/request.py",
    "src/clicksift/classify/signals/timing.py",
    "src/clicksift/classify/signals/unsubscribe.py",
    "src/clicksift/classify/signals/useragent.py",
    "src/clicksift/classify/spill.py",
    "src/clicksift/classify/vocabulary.py",
]


def _editable() -> bool:
    return any(arg in {"editable_wheel", "develop"} for arg in sys.argv)


def _can_compile() -> bool:
    compiler = (os.environ.get("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(compiler) is not None and headers.is_file()


def _extensions() -> list[object]:
    if os.environ.get("CLICKSIFT_PURE_PYTHON") == "1" or _editable():
        return []
    if not _can_compile():
        print("clicksift: no C compiler or Python headers; building pure Python",
              file=sys.stderr)
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("clicksift: mypyc is not installed; building pure Python", file=sys.stderr)
        return []
    try:
        # The build environment holds only the build requirements: the modules the compiled
        # ones merely import are followed silently, their own errors are not this build's.
        extensions = mypycify([*COMPILED, "--follow-imports=silent", "--no-warn-unused-ignores"],
                              opt_level="3")
    except (SystemExit, Exception) as error:  # type errors without the run-time packages
        print(f"clicksift: not compiling the classifier ({error}); building pure Python",
              file=sys.stderr)
        return []
    return list(extensions)


setup(ext_modules=_extensions())
