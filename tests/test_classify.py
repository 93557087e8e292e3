"""The classifier's signals, verdicts, settings and the classify command's contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from clicksift.classify import BatchClassifier, ClassifierConfig, Engine, Verdict
from clicksift.cli import main
from clicksift.errors import ConfigError
from clicksift.events import event_from_dict

T0 = 1_790_000_000.0
LINKS = [{"url": f"https://shop.example/{n}", "kind": "content"} for n in range(6)] + [
    {"url": "https://shop.example/", "kind": "honeypot"},
    {"url": "https://t.example/u/x", "kind": "unsubscribe"}]
OLD_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/103.0.0.0 Safari/537.36")
NEW_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
PERSON_HEADERS = {"accept": "text/html,application/xhtml+xml", "accept-language": "en-GB",
                  "sec-fetch-mode": "navigate", "sec-fetch-user": "?1"}


def delivered(message: str = "m1", recipient: str = "ann@contoso.example") -> dict:
    return {"type": "delivered", "id": f"{message}:d", "message_id": message,
            "timestamp": T0, "recipient": recipient, "links": LINKS, "campaign_id": "c"}


def click(event_id: str, at: float, index: int, ip: str, ua: str = NEW_CHROME,
          headers: dict | None = None, method: str = "GET", message: str = "m1") -> dict:
    return {"type": "click", "id": event_id, "message_id": message, "timestamp": T0 + at,
            "url": LINKS[index]["url"], "link_index": index, "ip": ip, "user_agent": ua,
            "method": method, "headers": headers if headers is not None else {}}


def judge(raw: list[dict], engine: Engine | None = None) -> dict[str, object]:
    events = [event_from_dict(e) for e in raw]
    return {v.id: v for v in BatchClassifier(engine or Engine()).classify(events, expected=10)}


def rules(verdict: object) -> list[str]:
    return [r.rule for r in verdict.reasons]  # type: ignore[attr-defined]


def test_defender_scan_at_delivery_is_a_scanner_with_vendor_and_reasons() -> None:
    raw = [delivered()] + [click(f"s{n}", 4 + n * 0.7, n, f"40.92.4.{10 + n}", OLD_CHROME,
                                 {"accept": "text/html"}) for n in range(7)]
    verdicts = judge(raw)
    for n in range(7):
        v = verdicts[f"s{n}"]
        assert (v.verdict, v.kind, v.vendor) == ("nhi", "security_scanner", "microsoft_defender")
        assert v.score > 0.99
    assert rules(verdicts["s6"])[0] == "context.honeypot"
    assert "net.vendor-certain" in rules(verdicts["s0"])
    assert "context.all-links-burst" in rules(verdicts["s0"])


def test_person_clicking_later_with_a_real_browser_is_human() -> None:
    raw = [delivered(), click("p1", 5 * 3600, 2, "73.12.4.9", NEW_CHROME, PERSON_HEADERS)]
    verdict = judge(raw)["p1"]
    assert verdict.verdict == "human" and verdict.kind is None and verdict.vendor is None
    assert rules(verdict)[0] == "req.user-activation"


def test_click_time_check_pairs_the_scanner_and_the_person() -> None:
    raw = [delivered(),
           click("check", 7200.0, 1, "52.96.10.1", OLD_CHROME, {"accept": "text/html"}),
           click("person", 7200.6, 1, "73.12.4.9", NEW_CHROME, PERSON_HEADERS)]
    verdicts = judge(raw)
    assert verdicts["check"].verdict == "nhi"
    assert "context.click-time-check" in rules(verdicts["check"])
    assert verdicts["person"].verdict == "human"
    assert "context.person-after-scanner" in rules(verdicts["person"])


def test_apple_privacy_proxy_open_and_gmail_reader_and_gmail_prefetch() -> None:
    gmail = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
             "(via ggpht.com GoogleImageProxy)")
    raw = [delivered(),
           {"type": "open", "id": "mpp", "message_id": "m1", "timestamp": T0 + 300,
            "ip": "172.225.40.7", "user_agent": "Mozilla/5.0"},
           {"type": "open", "id": "reader", "message_id": "m1", "timestamp": T0 + 9000,
            "ip": "66.249.84.1", "user_agent": gmail},
           {"type": "open", "id": "prefetch", "message_id": "m1", "timestamp": T0 + 8,
            "ip": "66.249.84.2", "user_agent": gmail}]
    verdicts = judge(raw)
    assert (verdicts["mpp"].verdict, verdicts["mpp"].kind, verdicts["mpp"].vendor) == (
        "nhi", "privacy_prefetch", "apple_mpp")
    assert verdicts["reader"].verdict == "human"
    assert (verdicts["prefetch"].verdict, verdicts["prefetch"].kind) == ("nhi", "image_prefetch")


def test_one_click_unsubscribe_is_a_person_whatever_else_it_looks_like() -> None:
    raw = [delivered(), {"type": "unsubscribe", "id": "u1", "message_id": "m1",
                         "timestamp": T0 + 2, "url": "https://t.example/u/x", "ip": "40.92.4.1",
                         "user_agent": "", "method": "POST",
                         "form": {"List-Unsubscribe": "One-Click"}}]
    verdict = judge(raw)["u1"]
    assert verdict.verdict == "human" and verdict.score <= 0.001
    assert rules(verdict)[0] == "unsub.one-click"


@settings(max_examples=60, deadline=None)
@given(ip=st.sampled_from(["40.92.4.1", "3.85.1.1", "73.1.2.3", "17.1.1.1", None]),
       ua=st.sampled_from(["", "curl/8.0", "Mozilla/5.0", OLD_CHROME, None]),
       delay=st.floats(-100, 10_000), method=st.sampled_from(["POST", None]))
def test_property_no_one_click_post_is_ever_judged_a_machine(ip: str | None, ua: str | None,
                                                              delay: float,
                                                              method: str | None) -> None:
    event = {"type": "unsubscribe", "id": "u", "message_id": "m1", "timestamp": T0 + delay,
             "url": "https://t.example/u/x", "form": {"List-Unsubscribe": "One-Click"}}
    for key, value in (("ip", ip), ("user_agent", ua), ("method", method)):
        if value is not None:
            event[key] = value
    assert judge([delivered(), event])["u"].verdict == "human"


def test_scanner_submitting_the_unsubscribe_form_is_a_machine() -> None:
    raw = [delivered()] + [click(f"s{n}", 3 + n * 0.5, n, "40.92.4.9", OLD_CHROME)
                           for n in (0, 1, 2, 3, 7)]
    raw.append({"type": "unsubscribe", "id": "form", "message_id": "m1", "timestamp": T0 + 9,
                "url": "https://t.example/u/x", "ip": "40.92.4.9", "user_agent": OLD_CHROME,
                "method": "POST", "headers": {"accept": "text/html"}, "form": {"confirm": "yes"}})
    assert judge(raw)["form"].verdict == "nhi"


def test_missing_signals_are_named_in_the_reasons() -> None:
    raw = [{"type": "click", "id": "c", "message_id": "mx", "timestamp": T0,
            "url": "https://x.example/"}]
    verdict = judge(raw)["c"]
    missing = [r for r in verdict.reasons if r.rule == "evidence.missing"]
    assert missing and "user agent" in missing[0].detail and "delivery time" in missing[0].detail


def test_verdict_lines_have_exactly_the_contract_fields() -> None:
    raw = [delivered(), click("c", 5000, 0, "73.1.1.1", NEW_CHROME, PERSON_HEADERS)]
    line = judge(raw)["c"].to_json()
    assert set(line) == {"id", "verdict", "score", "kind", "vendor", "reasons"}
    assert all(set(r) == {"rule", "detail"} for r in line["reasons"])
    assert 0 <= line["score"] <= 1


def test_rules_and_families_can_be_switched_off_and_reweighted() -> None:
    raw = [delivered()] + [click(f"s{n}", 4 + n * 0.7, n, f"40.92.4.{10 + n}", OLD_CHROME)
                           for n in range(7)]
    quiet = Engine(ClassifierConfig(disabled=("network", "context", "timing", "request",
                                              "ua.*", "crossmsg.*")))
    verdicts = judge(raw, quiet)
    assert all(v.verdict == "human" for v in verdicts.values())
    assert all(not r.rule.startswith(("net.", "context.", "timing.", "ua."))
               for v in verdicts.values() for r in v.reasons)
    heavy = Engine(ClassifierConfig(weights={"req.head": 9.0}, disabled=("context",)))
    light = Engine(ClassifierConfig(weights={"req.head": 0.5}, disabled=("context",)))
    person = [delivered(), click("p", 9000, 1, "73.1.1.1", NEW_CHROME,
                                 {"accept": "text/html", "accept-language": "en"},
                                 method="HEAD")]
    assert judge(person, heavy)["p"].verdict == "nhi"
    assert judge(person, light)["p"].verdict == "human"
    # A weight changes how much a rule counts, not what kind of evidence it is: a weak rule
    # however heavy still needs evidence on other bases (docs/classifier.md).
    weak = Engine(ClassifierConfig(weights={"req.wildcard-accept": 9.0}, disabled=("context",)))
    wildcard = [delivered(), click("p", 9000, 1, "73.1.1.1", NEW_CHROME,
                                   {"accept": "*/*", "accept-language": "en"})]
    verdict = judge(wildcard, weak)["p"]
    assert verdict.verdict == "human"
    assert "evidence.uncorroborated" in [r.rule for r in verdict.reasons]
    with pytest.raises(ConfigError, match="unknown rule"):
        ClassifierConfig(weights={"no.such-rule": 1})
    with pytest.raises(ConfigError, match="matches no rule"):
        ClassifierConfig(disabled=("bogus",))
    with pytest.raises(ConfigError, match="threshold"):
        ClassifierConfig(threshold=1.5)


def test_spilled_batches_give_the_same_verdicts_in_input_order() -> None:
    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    events, _ = events_and_truth(simulate(SimulationConfig(recipients=150, seed=9)))
    parsed = [event_from_dict(e) for e in events]
    in_memory = list(BatchClassifier().classify(parsed, expected=len(parsed)))
    spilled = list(BatchClassifier(in_memory_events=10).classify(parsed, expected=None))
    assert [v.id for v in in_memory] == [e.id for e in parsed if e.type in {"open", "click",
                                                                            "unsubscribe"}]
    assert [v.to_json() for v in spilled] == [v.to_json() for v in in_memory]


def test_a_batch_leaves_no_cycles_for_the_collector_it_pauses() -> None:
    """Batches pause the cycle collector; that is only safe while they make no cycles."""
    import gc

    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    events, _ = events_and_truth(simulate(SimulationConfig(recipients=150, seed=9)))
    parsed = [event_from_dict(e) for e in events]
    engine = Engine()   # an engine's own caches may hold cycles: made before, kept after
    list(BatchClassifier(engine, in_memory_events=10).classify(parsed, expected=None))
    gc.collect()
    gc.disable()
    try:
        assert not gc.isenabled()
        verdicts = list(BatchClassifier(engine, in_memory_events=10).classify(parsed,
                                                                              expected=None))
        verdicts += list(BatchClassifier(engine).classify(parsed, expected=len(parsed)))
        assert not gc.isenabled()  # a batch restores the collector as it found it
        left = gc.collect()
    finally:
        gc.enable()
    assert len(verdicts) > 500
    assert left == 0, f"{left} objects in reference cycles after two batches"
    list(BatchClassifier().classify(parsed, expected=len(parsed)))
    assert gc.isenabled()


def _write(tmp_path: Path, rows: list[dict | str]) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_classify_command_follows_the_contract(tmp_path: Path) -> None:
    path = _write(tmp_path, [delivered(), click("a", 3, 0, "40.92.4.1", OLD_CHROME),
                             click("b", 9000, 1, "73.1.1.1", NEW_CHROME, PERSON_HEADERS)])
    out = tmp_path / "verdicts.jsonl"
    result = CliRunner().invoke(main, ["classify", path, "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert [line["verdict"] for line in lines] == ["nhi", "human"]
    stdin = CliRunner().invoke(main, ["classify", "-"], input=Path(path).read_text())
    assert [json.loads(line)["id"] for line in stdin.stdout.splitlines()] == ["a", "b"]


def test_classify_command_stops_at_bad_input_with_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [delivered(), "{oops", click("b", 9000, 1, "73.1.1.1"),
                             {**click("c", 1, 0, "123.123.123.321")}])
    result = CliRunner().invoke(main, ["classify", path])
    assert result.exit_code == 2
    assert f"{path}, line 2: is not valid JSON" in result.stderr
    skipped = CliRunner().invoke(main, ["classify", path, "--skip-invalid"])
    assert skipped.exit_code == 0
    assert [json.loads(line)["id"] for line in skipped.stdout.splitlines()] == ["b"]
    assert "skipped 2 invalid lines" in skipped.stderr
    assert "line 4, field 'ip': '123.123.123.321' is not an IPv4 or IPv6 address" in skipped.stderr
    usage = CliRunner().invoke(main, ["classify"])
    assert usage.exit_code == 2


def test_rescore_stores_final_verdicts_with_the_engine_version(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    path = _write(tmp_path, [delivered(), click("a", 3, 0, "40.92.4.1", OLD_CHROME)])
    assert CliRunner().invoke(main, ["load", path, "--db", db]).exit_code == 0
    result = CliRunner().invoke(main, ["rescore", "--db", db, "--campaign", "c"])
    assert result.exit_code == 0, result.output
    from clicksift.settings import Settings
    from clicksift.storage import open_store
    store = open_store(Settings(database=db))
    stored = store.verdict_rows(["a"])["a"]
    store.close()
    assert stored["verdict"] == "nhi" and stored["final"] is True
    assert stored["engine_version"].startswith("clicksift-engine/")
    assert stored["reasons"][0]["weight"] > 0


def test_parallel_batches_give_exactly_the_serial_verdicts() -> None:
    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=400, campaigns=2, seed=6)))
    events = [event_from_dict(e) for e in raw]
    in_memory = list(BatchClassifier().classify(events, expected=len(events)))
    serial = BatchClassifier(in_memory_events=10)
    parallel = BatchClassifier(in_memory_events=10, workers=2)
    spilled = list(serial.classify(events, expected=len(events)))
    forked = list(parallel.classify(events, expected=len(events)))
    assert serial.stats.buckets == parallel.stats.buckets >= 8
    assert forked == spilled == in_memory
    assert parallel.stats.by_type == serial.stats.by_type
    assert parallel.stats.nhi == serial.stats.nhi > 0


def test_workers_reading_file_ranges_give_the_same_verdicts_and_errors(tmp_path: Path) -> None:
    from clicksift.errors import InvalidEventError
    from clicksift.events import ReadStats, read_events
    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=300, seed=12)))
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    half = len(raw) // 2
    first.write_text("".join(json.dumps(e) + "\n" for e in raw[:half]))
    second.write_text("\n" + "".join(json.dumps(e) + "\n" for e in raw[half:]))
    paths = [str(first), str(second)]
    expected = list(BatchClassifier().classify(read_events(paths), expected=len(raw)))
    parallel = BatchClassifier(in_memory_events=10, workers=2)
    got = list(parallel.classify_files(paths, min_range_bytes=20_000))
    assert got == expected and parallel.stats.events == len(raw)
    # Rendered in the second pass (what `clicksift classify` writes): the same lines.
    def render(verdict: Verdict) -> str:
        return json.dumps(verdict.to_json()) + "\n"

    lines_expected = [render(v) for v in expected]
    assert list(BatchClassifier(in_memory_events=10, workers=2).render_files(
        paths, render, min_range_bytes=20_000)) == lines_expected
    assert list(BatchClassifier(in_memory_events=10).render_files(paths, render)) \
        == lines_expected
    assert list(BatchClassifier().render_files(paths, render)) == lines_expected
    default = list(BatchClassifier(in_memory_events=10).render_files(paths))
    assert [json.loads(line) for line in default] == [v.to_json() for v in expected]
    with pytest.raises(ValueError, match="one line"):
        list(BatchClassifier(in_memory_events=10).render_files(paths, lambda v: "two\nlines\n"))
    # An invalid line deep in the second file: the same error, file and line, as a serial read.
    lines = second.read_text().splitlines()
    lines[len(lines) - 5] = '{"type": "click", "id": "x"}'
    second.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidEventError) as serial_error:
        list(BatchClassifier().classify(read_events(paths)))
    with pytest.raises(InvalidEventError) as parallel_error:
        list(BatchClassifier(in_memory_events=10, workers=2).classify_files(
            paths, min_range_bytes=20_000))
    assert str(parallel_error.value) == str(serial_error.value)
    assert f"b.jsonl, line {len(lines) - 4}" in str(parallel_error.value)
    stats = ReadStats()
    skipped = list(BatchClassifier(in_memory_events=10, workers=2).classify_files(
        paths, skip_invalid=True, stats=stats, min_range_bytes=20_000))
    assert stats.skipped == 1 and stats.events == len(raw) - 1 and stats.lines == len(raw) + 1
    assert len(skipped) == len(expected) - (raw[half + len(lines) - 6]["type"] in
                                           ("open", "click", "unsubscribe"))


def test_scores_just_under_the_threshold_stay_human_and_repeat_exactly() -> None:
    """The threshold sees the score before it is rounded for people (0.49996 is human though
    it shows as 0.5), and judging the same findings again, from the engine's remembered
    scores, gives the same verdict."""
    import math

    from clicksift.classify.vocabulary import finding

    engine = Engine()
    rule = "req.head"          # decisive: the evidence discipline lets it stand alone
    base = engine.config.weight(rule)
    assert base
    threshold = engine.config.threshold
    below = threshold - 0.00004
    target = math.log(below / (1 - below)) / engine.config.calibration   # evidence log-odds
    scale = (target - engine.config.prior) / base
    first = engine.judge("e1", [finding(rule, scale, "HEAD")])
    again = engine.judge("e1", [finding(rule, scale, "HEAD")])
    assert first.verdict == "human" and first.score == round(threshold, 4)
    assert again == first
    above = finding(rule, (math.log(threshold / (1 - threshold)) + 0.01
                           - engine.config.prior) / base, "HEAD")
    assert engine.judge("e2", [above]).verdict == "nhi"


def test_the_flat_form_of_findings_names_every_field_at_its_offset() -> None:
    from clicksift.classify import flat_findings
    from clicksift.classify.vocabulary import Finding, finding

    assert len(Finding._fields) == flat_findings.FIELDS
    for offset, name in enumerate(Finding._fields):
        assert getattr(flat_findings, f"AT_{name.upper()}") == offset, name
    found = [finding("req.head", 1.0, "HEAD", decisive=True),
             finding("ua.crawler", 0.5, "bot", "generic_bot", "Acme", evidence="x")]
    flat = flat_findings.flatten(found)
    assert flat[flat_findings.FIELDS + flat_findings.AT_VENDOR] == "Acme"
    assert flat_findings.unflatten(flat) == found


def test_the_written_out_constructors_take_their_fields_in_order() -> None:
    """Event and EventDigest write their constructors out (so the compiled modules compile
    them): each takes its declared fields in order (a digest then derives the last few from
    them). Read from the source, which the compiled and the pure modules share."""
    import ast
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "src" / "clicksift"
    for path, name, derived in ((source / "events.py", "Event", 0),
                                (source / "classify" / "observe.py", "EventDigest", 2)):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
        fields = [n.target.id for n in cls.body
                  if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
        init = next(n for n in cls.body
                    if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        params = [a.arg for a in init.args.args[1:]]
        assert fields and params == fields[:len(fields) - derived], name


def test_a_provisional_verdict_sees_the_context_findings_one_event_can_carry() -> None:
    """provisional() runs context.apply_one: for every event of a simulated campaign it
    gives what the full message-context pass gives a message of that one event (the
    honeypot fetch is the one such finding, and it is among them)."""
    from clicksift.classify.observe import MessageFacts, missing_evidence
    from clicksift.classify.signals import context
    from clicksift.events import ENGAGEMENT_TYPES, event_from_dict
    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=300, campaigns=1, seed=5)))
    engine = Engine()
    honeypots = 0
    for event in (event_from_dict(e) for e in raw):
        if event.type not in ENGAGEMENT_TYPES:
            continue
        obs = engine._observe_event(event, MessageFacts(event.message_id))
        context.apply([obs])
        whole = engine.judge(event.id, obs.findings, missing_evidence(obs), final=False)
        assert engine.provisional(event, MessageFacts(event.message_id)) == whole
        honeypots += any(f.rule == "context.honeypot" for f in whole.reasons)
    assert honeypots


_FIRST_REQUEST = """
import pathlib, re._compiler, sys
from clicksift.classify import Engine
from clicksift.events import event_from_dict

engine = Engine()
if sys.argv[1] == "warm":
    engine.warm_up()
loaded = []
compile_, read_bytes = re._compiler.compile, pathlib.Path.read_bytes
re._compiler.compile = lambda p, flags=0: (loaded.append("pattern"), compile_(p, flags))[1]
pathlib.Path.read_bytes = lambda self: (loaded.append(self.name), read_bytes(self))[1]
event = event_from_dict({"type": "click", "id": "c1", "message_id": "m1",
                         "timestamp": 1790000000, "url": "https://shop.example/1",
                         "ip": "81.2.69.160", "user_agent": sys.argv[2],
                         "headers": {"accept-language": "en-GB"}})
engine.provisional(event)
print(len(loaded))
"""


@pytest.mark.parametrize("warm", [True, False])
def test_a_warmed_up_engine_loads_nothing_on_its_first_request(warm: bool) -> None:
    """The server warms its engine at start: the first request does not compile the
    user-agent parser's expressions or read the address-origin table. Without the warm-up
    it does, which shows the test sees what it looks for. A fresh interpreter each, as
    those are loaded once per process."""
    done = subprocess.run([sys.executable, "-c", _FIRST_REQUEST, "warm" if warm else "cold",
                           NEW_CHROME], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loads = int(done.stdout.strip().splitlines()[-1])
    assert (loads == 0) if warm else (loads > 0), done.stdout


def test_warming_up_remembers_nothing() -> None:
    engine = Engine()
    engine.warm_up()
    assert not engine.agents._cache and not engine.networks._cache
