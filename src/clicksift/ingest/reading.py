"""Reading an ESP's bodies: JSON records and the fields they need, errors that name the
record and field, and import files split into bodies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from clicksift.events import dumps, loads
from clicksift.ingest.errors import PayloadError

#: The header under which an import names the file a body came from (the file's path can
#: say what its records are: Braze Currents writes one event type per folder).
FILE_HEADER = "x-clicksift-file"

#: The Avro object container's first bytes (a file read whole, never line by line).
AVRO_MAGIC = b"Obj\x01"


def payload_error(reason: str, *, record: int | None = None, field: str | None = None
                  ) -> PayloadError:
    where = None if record is None else f"record {record}"
    return PayloadError(reason, source=where, field=field)


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise payload_error("the body is empty")
    try:
        return loads(body)
    except UnicodeDecodeError:
        raise payload_error("the body is not UTF-8") from None
    except ValueError as exc:
        raise payload_error(f"the body is not JSON ({exc})") from None


def as_list(document: Any, what: str) -> list[Any]:
    """A JSON array, or one object taken as an array of one."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    raise payload_error(f"expected {what}, found {type(document).__name__}")


def need(record: Any, name: str, index: int | None, kinds: type | tuple[type, ...] = str
         ) -> Any:
    """RECORD[NAME] when it is present and of KINDS; a PayloadError naming it otherwise."""
    if not isinstance(record, dict):
        raise payload_error(f"expected an object, found {type(record).__name__}", record=index)
    value = record.get(name)
    if value is None or value == "":
        raise payload_error("is missing", record=index, field=name)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise payload_error(f"has the wrong type ({type(value).__name__})", record=index,
                            field=name)
    return value


def obj(value: Any) -> dict[str, Any]:
    """VALUE when it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def dig(record: Any, *path: str) -> Any:
    """RECORD[a][b]... or None where any step is missing."""
    for step in path:
        if not isinstance(record, dict):
            return None
        record = record.get(step)
    return record


def split_bodies(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The bodies in an import file: the whole file when it is one JSON document or one
    multipart form (a legacy Mailgun webhook), else one body per non-blank line. Yields
    (line number, body)."""
    stripped = data.strip()
    if not stripped:
        return
    if stripped.startswith(b"--") or data.startswith(AVRO_MAGIC):
        yield 1, data if data.startswith(AVRO_MAGIC) else data.lstrip()
        return
    try:
        loads(stripped)
    except ValueError:
        pass
    else:
        yield 1, stripped
        return
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield number, line


def json_body(records: Sequence[Any]) -> bytes:

    return dumps(list(records)).encode("utf-8")
