"""Cells of the CSV files clicksift writes, safe to open in a spreadsheet.

Text that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return: OWASP's "CSV Injection") gets a leading apostrophe, so a URL or
user agent such as ``=HYPERLINK(...)`` shows as text. Numbers are written as they are.
Source: https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]
