#!/usr/bin/env python3
"""Mutation testing of the classifier's signals and verdict engine (``make mutation``).

mutmut (configured under ``[tool.mutmut]`` in pyproject.toml) changes one operator,
constant or call at a time in ``classify/signals/`` and ``classify/engine.py`` and runs the
tests that pin the rules against each mutant. A mutant is *killed* when a test fails (or
hangs, or the type checker refuses it); one that every test passes *survived*: a change
of the rule the suite cannot see. This prints the share killed per file, the surviving
mutants (``--survivors``; ``mutmut show NAME`` shows one) and ends with one JSON line
``{"mutants": N, "killed": K, "score": K/N}``.

    scripts/mutation.py              # run (resumes a stopped run), then report
    scripts/mutation.py --report     # report on the last run only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
#: mutmut's exit codes that mean the tests (or the type checker) caught the mutant.
CAUGHT = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout",
          152: "timeout", 255: "timeout", 37: "type check", -11: "crash", -9: "crash"}
NOT_RUN = {None, 2, 34}                  # not checked, interrupted, skipped


def results() -> dict[str, dict[str, int | None]]:
    """Source file -> mutant name -> exit code, from mutmut's .meta files."""
    found = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
        if codes:
            found[str(meta.relative_to(MUTANTS))[:-len(".meta")]] = codes
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true", help="report on the last run only")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    args = parser.parse_args()
    if not args.report:
        children = str(os.cpu_count() or 1)
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children",
                              children], cwd=ROOT, check=False)
        if run.returncode not in (0, 1):
            print(f"mutation: mutmut stopped with exit status {run.returncode}",
                  file=sys.stderr)
            return 2
    by_file = results()
    if not by_file:
        print("mutation: no results in mutants/: run scripts/mutation.py first",
              file=sys.stderr)
        return 2
    total = killed = 0
    survivors: list[str] = []
    outcomes: Counter[str] = Counter()
    print(f"\n{'file':<46}{'mutants':>9}{'killed':>9}{'score':>8}")
    for path, codes in by_file.items():
        counted = {name: code for name, code in codes.items()
                   if code is not None and code not in NOT_RUN}
        outcomes.update(CAUGHT.get(code, "survived") for code in counted.values())
        caught = sum(code in CAUGHT for code in counted.values())
        survivors += sorted(name for name, code in counted.items() if code not in CAUGHT)
        total, killed = total + len(counted), killed + caught
        name = path.removeprefix("src/clicksift/classify/")
        if counted:
                print(f"{name:<46}{len(counted):>9}{caught:>9}"
                  f"{caught / len(counted):>8.1%}")
    print(f"{'all':<46}{total:>9}{killed:>9}{killed / max(1, total):>8.1%}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    if args.survivors:
        print("\nsurvivors (mutmut show NAME):")
        for name in survivors:
            print(f"  {name}")
    print(json.dumps({"mutants": total, "killed": killed,
                      "score": round(killed / max(1, total), 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
