"""The maintained crawler list (crawlerdetect's patterns), matched in time linear in the
length of the user agent.

crawlerdetect joins its 1,400-odd patterns into one expression for Python's backtracking
``re``, where one of them (a run of letters and digits before "bot", "crawl", ...) makes a
search quadratic: a user agent of 16,000 letters took 38 s, one of 2 MB (an events API body
allows it) hours, with the worker's thread holding the interpreter all the while. RE2
(google-re2, the engine Google runs untrusted patterns with) matches the same patterns in
one pass: 2 MB in about 30 ms, and an ordinary user agent twice as fast as before. The one
pattern RE2 cannot express (a negative look-ahead) is matched with ``re`` on its own, which
is linear for it. The answers are crawlerdetect's (a test compares them).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2
from crawlerdetect.providers.crawlers import data as _CRAWLERS
from crawlerdetect.providers.exclusions import data as _EXCLUSIONS


def _re2(patterns: list[str]) -> Any:
    options = re2.Options()
    options.case_sensitive = False            # crawlerdetect compiles with re.IGNORECASE
    options.max_mem = 64 << 20
    options.log_errors = False
    return re2.compile("(?:" + "|".join(patterns) + ")", options=options)


class CrawlerList:
    """``matches(user_agent)``: crawlerdetect's ``isCrawler``. Its exclusions (browser and
    platform tokens) are removed first; what is left is searched for a crawler pattern."""

    def __init__(self) -> None:
        linear = [p for p in _CRAWLERS if "(?" not in p]
        self._exclusions = _re2(list(_EXCLUSIONS))
        self._crawlers = _re2(linear)
        others = [p for p in _CRAWLERS if "(?" in p]   # look-arounds: RE2 has none
        self._others = re.compile("(?:" + "|".join(others) + ")", re.IGNORECASE) \
            if others else None

    def matches(self, user_agent: str) -> bool:
        agent = self._exclusions.sub("", user_agent.strip())
        if not agent:
            return False
        return self._crawlers.search(agent) is not None or \
            (self._others is not None and self._others.search(agent) is not None)


@functools.cache
def crawler_list() -> CrawlerList:
    """The process's one CrawlerList: compiling it takes about 20 ms, and every analyzer
    (each engine has one) shares it, as crawlerdetect shared its compiled pattern; RE2's
    and re's matching are safe from any thread."""
    return CrawlerList()
