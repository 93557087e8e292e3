"""What a user agent string says: knowledge-base match, crawler lists, browser and version."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

import ua_parser

from clicksift.classify.crawlers import crawler_list
from clicksift.classify.knowledge import AgentEntry, Knowledge
from clicksift.classify.memo import Memoized

#: Browser families (as ua-parser names them) whose version numbers follow an engine's
#: release train. Browsers with their own numbering (Samsung Internet, Opera, Vivaldi,
#: Yandex) count as browsers but have no age.
_CHROMIUM = frozenset({"Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chromium", "Edge",
                       "Edge Mobile", "Chrome Mobile WebView"})
_OTHER_BROWSERS = frozenset({"Opera", "Brave", "Samsung Internet", "Vivaldi", "Yandex Browser",
                             "Opera Mobile", "DuckDuckGo Mobile", "UC Browser"})
_FIREFOX = frozenset({"Firefox", "Firefox Mobile", "Firefox iOS"})
_SAFARI = frozenset({"Safari", "Mobile Safari", "Mobile Safari UI/WKWebView"})
_LEGACY = frozenset({"IE", "IE Mobile"})
#: Reference releases of the four-week trains and their average cycle, which is a little
#: longer than four weeks with the year-end breaks (Chrome 100 on 2022-03-29 to Chrome 130 on
#: 2024-10-15: 31.0 days; Firefox 100 on 2022-05-03 to Firefox 130 on 2024-09-03: 28.5 days;
#: https://chromiumdash.appspot.com/schedule, https://whattrainisitnow.com/calendar/).
_CHROMIUM_100 = datetime(2022, 3, 29, tzinfo=UTC).timestamp()
_FIREFOX_100 = datetime(2022, 5, 3, tzinfo=UTC).timestamp()
_CHROMIUM_CYCLE = 31.0 * 86400
_FIREFOX_CYCLE = 28.5 * 86400


@dataclass(frozen=True, slots=True)
class AgentInfo:
    user_agent: str
    entry: AgentEntry | None       # knowledge-base match
    crawler: bool                  # crawlerdetect's verdict (before our overrides)
    family: str | None             # browser family
    major: int | None
    engine: str | None             # chromium, gecko, webkit, trident, other (own numbering)

    @property
    def claims_browser(self) -> bool:
        return self.engine is not None and self.entry is None

    @property
    def role(self) -> str | None:
        return self.entry.role if self.entry else None


def current_major(engine: str, at: float) -> int | None:
    """The newest stable major version of ENGINE's release train at time AT (estimated)."""
    if engine == "chromium":
        return 100 + int((at - _CHROMIUM_100) // _CHROMIUM_CYCLE)
    if engine == "gecko":
        return 100 + int((at - _FIREFOX_100) // _FIREFOX_CYCLE)
    return None


def versions_behind(info: AgentInfo, at: float) -> int | None:
    """How many major releases behind current the browser is at time AT (None: unknown)."""
    if info.engine == "trident":
        return 999  # Internet Explorer was retired in 2022
    if info.major is None or info.engine is None:
        return None
    current = current_major(info.engine, at)
    return None if current is None else max(current - info.major, 0)


@functools.cache
def _user_agent_parser() -> ua_parser.Parser:
    """One parser, built once: the module-level helper re-imports its global on every call.
    Results are cached per user agent by the analyzer, so the parser keeps no cache."""
    return ua_parser.Parser(ua_parser.BestAvailableResolver(ua_parser.load_lazy_builtins()))


#: Browsers whose analysis is done once at start (AgentAnalyzer.warm_up): Chrome on Windows,
#: Safari on iPhone, Edge on Windows (user agents as those browsers sent them in 2024).
_WARM_UP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
)


class AgentAnalyzer(Memoized[AgentInfo]):
    """Analyses user agents once each (cached): thousands of requests share a few hundred."""

    def __init__(self, knowledge: Knowledge, cache_size: int = 65536) -> None:
        super().__init__(cache_size)
        self.knowledge = knowledge
        self._crawlers = crawler_list()
        self._parser = _user_agent_parser()

    def warm_up(self) -> None:
        """The user-agent parser compiles its expressions as browser families come: done
        here for the browsers people use most."""
        for user_agent in _WARM_UP_AGENTS:
            self._analyse(user_agent)

    def _analyse(self, user_agent: str) -> AgentInfo:
        entry = self.knowledge.match_agent(user_agent)
        crawler = bool(user_agent) and self._crawlers.matches(user_agent)
        parsed = self._parser.parse_user_agent(user_agent) if user_agent else None
        family = parsed.family if parsed else None
        major = int(parsed.major) if parsed and parsed.major and parsed.major.isdigit() else None
        engine = None
        if family in _CHROMIUM:
            engine = "chromium"
        elif family in _FIREFOX:
            engine = "gecko"
        elif family in _SAFARI:
            engine = "webkit"
        elif family in _LEGACY:
            engine = "trident"
        elif family in _OTHER_BROWSERS:
            engine, major = "other", None
        return AgentInfo(user_agent, entry, crawler, family, major, engine)
