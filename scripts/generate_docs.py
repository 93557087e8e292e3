#!/usr/bin/env python3
"""Regenerate the reference pages in docs/ from the code (settings, and later the rules)."""

from __future__ import annotations

import sys
from pathlib import Path

from clicksift.reference import PAGES

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    for relative, render in PAGES.items():
        path = ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
