"""The crawler list matched with RE2 answers as crawlerdetect does, for every user agent."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as CRAWLER_PATTERNS
from hypothesis import given, settings
from hypothesis import strategies as st

from clicksift.classify.crawlers import CrawlerList
from clicksift.simulate import SimulationConfig, events_and_truth, simulate

FIXTURES = Path(__file__).parent / "fixtures" / "useragents"
#: Literal crawler names from crawlerdetect's list (no expression syntax), and tokens real
#: browsers send: the pieces generated user agents are made of.
NAMES = sorted(p for p in CRAWLER_PATTERNS if p.replace(" ", "").replace("-", "").isalnum())
BROWSER_TOKENS = ["Mozilla/5.0", "(Windows NT 10.0; Win64; x64)", "AppleWebKit/537.36",
                  "(KHTML, like Gecko)", "Chrome/131.0.0.0", "Safari/537.36", "Edg/131.0",
                  "(iPhone; CPU iPhone OS 17_5 like Mac OS X)", "Mobile/15E148", "YandexSearch",
                  "Yandex", "Gecko/20100101", "Firefox/128.0", "compatible;", "+http://", ";"]


@cache
def _ours() -> CrawlerList:
    return CrawlerList()


@cache
def _theirs() -> CrawlerDetect:
    return CrawlerDetect()


def _corpus() -> set[str]:
    agents: set[str] = set()
    for path in FIXTURES.glob("*.tsv"):
        with path.open(newline="") as handle:
            agents.update(row["user_agent"] for row in csv.DictReader(handle, delimiter="\t"))
    events, _ = events_and_truth(simulate(SimulationConfig(recipients=400, seed=11)))
    agents.update(e["user_agent"] for e in events if e.get("user_agent"))
    return agents


def test_every_known_user_agent_gets_crawlerdetect_s_answer() -> None:
    corpus = _corpus()
    assert len(corpus) > 40
    differ = [ua for ua in corpus if _ours().matches(ua) != _theirs().is_crawler(ua)]
    assert not differ
    # Both answers occur, so the comparison is not one-sided.
    assert {_ours().matches(ua) for ua in corpus} == {True, False}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(NAMES), st.sampled_from(BROWSER_TOKENS),
                          st.text(min_size=1, max_size=12)), min_size=1, max_size=8),
       st.sampled_from([" ", "", "/", "; "]))
def test_generated_user_agents_get_crawlerdetect_s_answer(pieces: list[str], glue: str) -> None:
    agent = glue.join(pieces)
    assert _ours().matches(agent) == _theirs().is_crawler(agent), agent


def test_the_look_ahead_pattern_keeps_its_meaning() -> None:
    """RE2 has no look-ahead: crawlerdetect's 'Yandex(?!Search)' is matched apart."""
    for agent, crawler in (("Yandex/1.0", True), ("Mozilla/5.0 Yandex", True),
                           ("YandexSearch/8.10", False)):
        assert _ours().matches(agent) is crawler is _theirs().is_crawler(agent), agent
