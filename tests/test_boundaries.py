"""The store is the boundary: SQL lives in ``clicksift.storage`` alone, and rows cross it
as named shapes that are checked against the columns a statement returns."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import NamedTuple

import pytest

from clicksift.settings import Settings
from clicksift.storage import open_store

SOURCE = Path(__file__).resolve().parents[1] / "src" / "clicksift"
#: The start of a statement, or a condition with a placeholder ("e.type = ?").
_SQL = re.compile(r"^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
                  r"|CREATE\s+(TABLE|INDEX|UNIQUE)|DROP\s+TABLE|PRAGMA\s|ALTER\s+TABLE)"
                  r"|\b[a-z_]+(\.[a-z_]+)?\s+(=|<=|>=|<>|<|>|LIKE|IN)\s+\(?\?")


def sql_outside_storage() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE)
        if relative.parts[0] == "storage":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and _SQL.search(node.value):
                found.append(f"{relative}:{node.lineno}: {node.value.strip()[:60]}")
    return found


def test_no_sql_outside_the_storage_package() -> None:
    assert sql_outside_storage() == []


def test_the_check_finds_sql_where_it_would_be() -> None:
    # Near misses the check must catch, and prose it must leave alone.
    for text in ("SELECT id FROM events", "\n  UPDATE hooks SET active = 0",
                 "DELETE FROM outbox WHERE seq = ?", "e.campaign_id = ?",
                 "AND key IN (?"):
        assert _SQL.search(text), text
    for text in ("Select a campaign", "the update set", "what = is ?", "delete it from",
                 "[^<]++|<(?!--)"):
        assert not _SQL.search(text), text


class _IdAndType(NamedTuple):
    id: str
    type: str


class _TypeAndId(NamedTuple):
    type: str
    id: str


def test_a_row_shape_must_match_the_columns(tmp_path: Path) -> None:
    statement = "SELECT id, type FROM events ORDER BY seq"
    with open_store(Settings(database=str(tmp_path / "shape.db"))) as store:
        assert store.rows(_IdAndType, statement) == []
        assert store.row(_IdAndType, statement) is None
        with pytest.raises(TypeError, match="has fields"):
            store.rows(_TypeAndId, statement)
        with pytest.raises(TypeError, match="has fields"):
            store.row(_TypeAndId, statement)
