"""The flat form of findings: the fields of several findings run together in one list.

Millions of observed events go to disk and back between the batch's two passes, and one
flat list is one object where a list of findings is many (``EventDigest.findings``). Only the
classifier's internals read this form, through the named offsets below; every module
boundary passes :class:`~clicksift.classify.vocabulary.Finding` records. The offsets are
literal ``Final`` integers so the compiled modules read them as constants; a test checks
them against ``Finding``'s fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any, Final

from clicksift.classify.vocabulary import Finding

#: Fields per finding, and the offset of each field within a finding's run.
FIELDS: Final = 7
AT_RULE: Final = 0
AT_WEIGHT: Final = 1
AT_DETAIL: Final = 2
AT_KIND: Final = 3
AT_VENDOR: Final = 4
AT_DECISIVE: Final = 5
AT_EVIDENCE: Final = 6


def flatten(findings: Iterable[Finding]) -> list[Any]:
    """FINDINGS in the flat form."""
    return list(chain.from_iterable(findings))


def unflatten(flat: list[Any]) -> list[Finding]:
    """The findings of a flat list, as records again."""
    new = tuple.__new__
    return [new(Finding, tuple(flat[i:i + FIELDS])) for i in range(0, len(flat), FIELDS)]
