"""Reports: rollups kept in step with new events and re-scores, checked against counts
made directly from the events, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

import pytest

from clicksift import reports
from clicksift.classify import BatchClassifier, Engine
from clicksift.errors import InputError, NotFoundError
from clicksift.events import Event, event_from_dict
from clicksift.reports import rollup
from clicksift.reports.explorer import EventQuery
from clicksift.simulate import SimulationConfig, events_and_truth, simulate
from clicksift.storage import SqlStore


@pytest.fixture(scope="module")
def simulated() -> tuple[list[Event], dict[str, Any]]:
    campaigns = simulate(SimulationConfig(recipients=150, campaigns=2, seed=7))
    raw, _truth = events_and_truth(campaigns)
    events = [event_from_dict(item) for item in raw]
    verdicts = {v.id: v for v in BatchClassifier(Engine()).classify(events)}
    return events, verdicts


def _load(store: SqlStore, events: list[Event], verdicts: dict[str, Any]) -> None:
    with store.transaction():
        store.add_events(events)
        store.save_verdicts([verdicts[e.id] for e in events if e.id in verdicts], "test")


def _cells(store: SqlStore) -> dict[tuple[str, str, str, str], float]:
    rows = store.execute("SELECT campaign_id, dim, key, metric, n FROM rollup_cells").fetchall()
    return {(c, d, k, m): n for c, d, k, m, n in rows if n}


def _counted_at_once(events: list[Event], verdicts: dict[str, Any], tmp_path: Any
                     ) -> dict[tuple[str, str, str, str], float]:
    """The cells of one refresh over all EVENTS, in a store of their own."""
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    full = open_store(Settings(database=str(tmp_path / "full.db")))
    _load(full, events, verdicts)
    reports.refresh(full)
    expected = _cells(full)
    full.close()
    return expected


def test_report_counts_match_a_direct_count(store: SqlStore, simulated: Any) -> None:
    events, verdicts = simulated
    _load(store, events, verdicts)
    reports.refresh(store)
    campaign = events[0].campaign_id
    report = reports.campaign_report(store, campaign)
    mine = [e for e in events if e.campaign_id == campaign
            or (e.message_id in {x.message_id for x in events if x.campaign_id == campaign})]
    clicks = [e for e in mine if e.type == "click" and e.link_kind != "unsubscribe"]
    human_clicks = [e for e in clicks if verdicts[e.id].verdict == "human"]
    opens = [e for e in mine if e.type == "open"]
    human_openers = ({e.message_id for e in opens if verdicts[e.id].verdict == "human"}
                     | {e.message_id for e in human_clicks})
    totals = report.totals
    assert totals.delivered == sum(e.type == "delivered" for e in mine) == 150
    assert totals.clicks.raw == len(clicks) > 0
    assert totals.clicks.human == len(human_clicks)
    assert totals.clicks.nhi == len(clicks) - len(human_clicks)
    assert totals.opens.raw == len(opens)
    assert totals.clickers.raw == len({e.message_id for e in clicks})
    assert totals.clickers.human == len({e.message_id for e in human_clicks})
    assert totals.openers.human == len(human_openers)
    assert totals.click_rate.human == pytest.approx(len({e.message_id for e in human_clicks})
                                                    / 150)
    assert totals.honeypot_hits == sum(e.link_kind == "honeypot" for e in clicks)
    # Machine events: opens, clicks and unsubscribes judged NHI (preference page views apart).
    judged = [e for e in mine if e.id in verdicts
              and not (e.type == "click" and e.link_kind == "unsubscribe")]
    machine_events = sum(verdicts[e.id].verdict == "nhi" for e in judged)
    assert sum(share.events for share in report.vendors) == machine_events
    assert sum(share.events for share in report.kinds) == machine_events
    assert sum(p.clicks.raw for p in report.timeline) == len(clicks)
    assert sum(row.clicks.raw for row in report.links) == len(clicks)
    domains = reports.domain_report(store, campaign)
    assert sum(row.messages for row in domains) == 150
    assert report.domain_count == len(domains)


def test_incremental_refreshes_equal_one_full_count(database: str, simulated: Any,
                                                    tmp_path: Any) -> None:
    """Events arriving in pieces, provisional then final verdicts, a late delivered event:
    the cells end exactly where one count of everything ends."""
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    events, verdicts = simulated
    expected = _counted_at_once(events, verdicts, tmp_path)

    store = open_store(Settings(database=database))
    try:
        rng = random.Random(3)
        order = events[:]
        rng.shuffle(order)          # delivered events may come after their clicks
        flipped = {}
        for start in range(0, len(order), 400):
            piece = order[start:start + 400]
            # A provisional verdict that the re-score will overturn.
            provisional = [verdicts[e.id]._replace(verdict="human", final=False)
                           for e in piece if e.id in verdicts]
            flipped.update({v.id: v for v in provisional})
            with store.transaction():
                store.add_events(piece)
                store.save_verdicts(provisional, "online")
            reports.refresh(store, window=150)
        assert _cells(store) != expected   # the verdicts differ so far
        with store.transaction():
            rollup.mark_dirty(store, {e.message_id for e in events})
            store.save_verdicts(list(verdicts.values()), "rescore")
        reports.refresh(store)
        assert _cells(store) == expected
        assert rollup.events_behind(store) == 0
    finally:
        store.close()


def test_a_refresh_reads_events_without_holding_writers_back(
        database: str, simulated: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a refresh reads a chunk's events, another connection stores more events of the
    same messages at once (no write lock is held, so a store that does not wait succeeds);
    the refresh's next window counts them, ending where one count of everything ends."""
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    events, verdicts = simulated
    expected = _counted_at_once(events, verdicts, tmp_path)

    first, late = events[:len(events) // 2], events[len(events) // 2:]
    store = open_store(Settings(database=database))
    writer = open_store(Settings(database=database), migrate=False, timeout=0)
    read_events = rollup._event_rows
    writes = []

    def read_then_write(store_: SqlStore, message_ids: Any) -> Any:
        rows = read_events(store_, message_ids)
        if not writes:
            _load(writer, late, verdicts)   # raises StoreBusy if a write lock were held
            writes.append(len(late))
        return rows

    try:
        _load(store, first, verdicts)
        monkeypatch.setattr(rollup, "_event_rows", read_then_write)
        reports.refresh(store)
        monkeypatch.setattr(rollup, "_event_rows", read_events)
        assert writes == [len(late)]
        assert _cells(store) == expected
        assert rollup.events_behind(store) == 0
    finally:
        writer.close()
        store.close()


def test_a_new_rollup_version_recounts_everything(store: SqlStore, simulated: Any) -> None:
    events, verdicts = simulated
    _load(store, events, verdicts)
    reports.refresh(store)
    before = _cells(store)
    with store.transaction():
        store.execute("UPDATE rollup_cells SET n = n + 1")
        store.execute("UPDATE meta SET value = 'old' WHERE key = ?", (rollup.VERSION_KEY,))
    stats = reports.refresh(store)
    assert stats.rebuilt and _cells(store) == before


def test_overview_lists_campaigns_and_adds_them_up(store: SqlStore, simulated: Any) -> None:
    events, verdicts = simulated
    _load(store, events, verdicts)
    reports.refresh(store)
    view = reports.overview(store)
    assert len(view.campaigns) == 2
    assert view.campaigns[0].first_day >= view.campaigns[1].first_day  # newest first
    parts = [reports.campaign_report(store, c.id).totals for c in view.campaigns]
    assert view.totals.clicks.raw == sum(t.clicks.raw for t in parts)
    assert view.totals.clickers.human == sum(t.clickers.human for t in parts)


def test_unknown_campaign_is_not_found(store: SqlStore) -> None:
    reports.refresh(store)
    with pytest.raises(NotFoundError, match="no campaign 'nope'"):
        reports.campaign_report(store, "nope")
    with pytest.raises(NotFoundError):
        reports.event_page(store, EventQuery(campaign="nope"))


def test_explorer_filters_by_rule_and_verdict(store: SqlStore, simulated: Any) -> None:
    events, verdicts = simulated
    _load(store, events, verdicts)
    rule = "ua.known-scanner"
    expected = [e.id for e in events
                if e.id in verdicts and any(f.rule == rule for f in verdicts[e.id].reasons)]
    found = [row.id for row in reports.iter_events(store, EventQuery(rule=rule), page_size=37)]
    assert sorted(found) == sorted(expected) and expected
    page = reports.event_page(store, EventQuery(verdict="human", type="click", per_page=5))
    assert len(page.items) == 5 and page.has_more
    assert all(row.verdict == "human" and row.type == "click" and row.reasons
               for row in page.items)
    second = reports.event_page(store, EventQuery(verdict="human", type="click", per_page=5,
                                                  page=2))
    assert second.items[0].seq > page.items[-1].seq


def test_message_events_are_in_time_order_with_reasons(store: SqlStore,
                                                       simulated: Any) -> None:
    events, verdicts = simulated
    _load(store, events, verdicts)
    busy = max({e.message_id for e in events},
               key=lambda m: sum(e.message_id == m for e in events))
    rows = reports.message_events(store, busy)
    assert [r.timestamp for r in rows] == sorted(r.timestamp for r in rows)
    assert rows[0].type == "delivered" and rows[0].verdict is None
    assert all(r.reasons for r in rows if r.verdict)
    with pytest.raises(NotFoundError):
        reports.message_events(store, "no-such-message")


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"page": "0"}, "page", "between 1"),
    ({"page": "two"}, "page", "whole number"),
    ({"per_page": "5000"}, "per_page", "between 1 and 500"),
    ({"type": "clicks"}, "type", "not one of"),
    ({"verdict": "bot"}, "verdict", "not one of"),
    ({"rule": "ua.known"}, "rule", "no rule 'ua.known'"),
    ({"since": "yesterday"}, "since", "not an RFC 3339"),
    ({"colour": "red"}, "colour", "unknown filter"),
])
def test_bad_filters_name_the_field(values: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(InputError, match=words) as caught:
        EventQuery.parse(values)
    assert caught.value.field == field




# -- how far to trust the verdicts: the campaign's own anchored events ----------------------

_T = 1_790_000_000.0
_LINKS = [{"url": f"https://shop.example/{n}", "kind": "content"} for n in range(3)] + [
    {"url": "https://shop.example/", "kind": "honeypot"}]
_SCANNER, _PERSON, _OTHER = "40.107.1.1", "73.1.2.3", "86.130.5.6"


def _anchor_case() -> tuple[list[Event], list[Any]]:
    """One message: a scanner fetches the honeypot and three links (verdicts: two machine,
    one person); another address nobody anchors clicks; the person converts after a click
    (judged a machine) and unsubscribes with an RFC 8058 one-click POST (judged a person);
    one of the scanner's requests is not judged yet."""
    from clicksift.classify.vocabulary import Verdict

    def click(event_id: str, at: float, index: int, ip: str) -> dict[str, Any]:
        return {"type": "click", "id": event_id, "message_id": "m1", "campaign_id": "trust",
                "timestamp": _T + at, "url": _LINKS[index]["url"], "link_index": index,
                "link_kind": _LINKS[index]["kind"], "ip": ip}

    raw = [{"type": "delivered", "id": "d", "message_id": "m1", "campaign_id": "trust",
            "timestamp": _T, "recipient": "ann@contoso.example", "links": _LINKS},
           click("trap", 5, 3, _SCANNER), click("s0", 6, 0, _SCANNER),
           click("s1", 7, 1, _SCANNER), click("s2", 8, 2, _SCANNER),
           {**click("s3", 9, 0, _SCANNER), "type": "open", "url": None, "link_index": None,
            "link_kind": None},
           click("other", 600, 1, _OTHER),
           click("buy", 3600, 0, _PERSON),
           {"type": "conversion", "id": "cv", "message_id": "m1", "campaign_id": "trust",
            "timestamp": _T + 4000, "click_id": "buy", "value": 20.0},
           {"type": "unsubscribe", "id": "u1", "message_id": "m1", "campaign_id": "trust",
            "timestamp": _T + 5000, "ip": _OTHER, "method": "POST", "url": "https://t.example/u/1",
            "form": {"List-Unsubscribe": "One-Click"}},
           {"type": "unsubscribe", "id": "u2", "message_id": "m1", "campaign_id": "trust",
            "timestamp": _T + 5100, "ip": _OTHER, "method": "POST", "url": "https://t.example/u/1",
            "form": {"List-Unsubscribe": "one-click-ish"}}]
    events = [event_from_dict(item) for item in raw]
    judged = {"trap": "nhi", "s0": "nhi", "s1": "nhi", "s2": "human", "other": "nhi",
              "buy": "nhi", "u1": "human", "u2": "nhi"}
    verdicts = [Verdict(event_id, verdict, 0.9 if verdict == "nhi" else 0.1, None, None, ())
                for event_id, verdict in judged.items()]
    return events, verdicts


def test_anchored_events_show_how_far_to_trust_the_verdicts(store: SqlStore) -> None:
    events, verdicts = _anchor_case()
    with store.transaction():
        store.add_events(events)
        store.save_verdicts(verdicts, "test")
    reports.refresh(store)
    trust = reports.campaign_report(store, "trust").trust
    checks = {c.anchor: (c.expected, c.judged, c.agreed) for c in trust.checks}
    # s0, s1 (machine) and s2 (person) are the honeypot fetcher's; s3 is not judged yet;
    # the trap itself and the other address's click are no anchors.
    assert checks["honeypot_source"] == ("nhi", 3, 2)
    assert checks["one_click"] == ("human", 1, 1)          # u2's form is no RFC 8058 POST
    assert checks["converting_click"] == ("human", 1, 0)
    assert (trust.machine_events, trust.machine_recall) == (3, pytest.approx(2 / 3))
    assert (trust.person_events, trust.person_precision) == (2, 0.5)


def test_a_simulated_campaign_s_honeypot_fetchers_are_anchored(store: SqlStore,
                                                               simulated: Any) -> None:
    events, verdicts = simulated
    _load(store, events, verdicts)
    reports.refresh(store)
    trust = reports.campaign_report(store, events[0].campaign_id).trust
    # The simulator's gateways fetch honeypot links: their other requests are anchored,
    # and the classifier catches nearly all of them.
    assert trust.machine_events > 0 and trust.machine_recall is not None
    assert trust.machine_recall > 0.9
    assert [c.anchor for c in trust.checks] == ["honeypot_source", "one_click",
                                                "converting_click"]


def test_recipients_by_mx_gateway_and_the_doctor_beside_machine_clicks(
        store: SqlStore, simulated: Any) -> None:
    """Recipient domains' cached MX give each domain's gateway beside the one seen in its
    traffic and the campaign's recipients per gateway; a campaign whose clicks are mostly
    machines' points to the doctor's kept findings."""
    import time

    from clicksift.storage.records import DoctorReport, MxRecord

    events, verdicts = simulated
    _load(store, events, verdicts)
    reports.refresh(store)
    campaign = events[0].campaign_id
    assert reports.campaign_report(store, campaign).mx_gateways == ()   # nothing looked up
    domains = store.recipient_domains(campaign)
    companies = [d for d, _ in domains if d not in ("gmail.com", "yahoo.com", "outlook.com",
                                                     "gmx.net", "icloud.com")]
    now = time.time()
    store.save_mx_records([MxRecord(companies[0], ("mx0a-1.pphosted.com",), "ok", now,
                                    now + 3600),
                           MxRecord("gmail.com", ("gmail-smtp-in.l.google.com",), "ok", now,
                                    now + 3600),
                           MxRecord(companies[1], ("mail.example.net",), "ok", now,
                                    now + 3600)])
    report = reports.campaign_report(store, campaign, domains=1000)
    by_name = {row.name: row for row in report.mx_gateways}
    recipients = dict(domains)
    assert by_name["Proofpoint Email Protection"].recipients == recipients[companies[0]]
    assert by_name["Proofpoint Email Protection"].scans_links
    assert by_name["Gmail"].recipients == recipients.get("gmail.com", 0)
    assert by_name["unknown"].domains == 1
    assert sum(row.recipients for row in report.mx_gateways) == 150
    assert sum(row.share for row in report.mx_gateways) == pytest.approx(1.0)
    row = next(d for d in report.domains if d.domain == companies[0])
    assert row.mx_gateway == "proofpoint"
    # The simulated campaign's clicks are largely machines': the report points to the doctor.
    totals = report.totals
    assert totals.clicks.nhi / (totals.clicks.nhi + totals.clicks.human) >= \
        reports.compute.DOCTOR_SHARE
    assert report.doctor is not None and report.doctor.domain is None
    store.save_doctor_report(DoctorReport("news.example", now, {
        "domain": "news.example", "findings": [
            {"check": "spf", "status": "ok", "message": "fine", "fix": ""},
            {"check": "tracking_host", "status": "warn", "message": "shared host",
             "fix": "use click.news.example"}]}))
    advice = reports.campaign_report(store, campaign).doctor
    assert advice is not None and advice.domain == "news.example"
    assert [f["check"] for f in advice.findings] == ["tracking_host"]
    data = reports.to_json(reports.campaign_report(store, campaign))
    assert data["doctor"]["findings"][0]["fix"] == "use click.news.example"
    assert {row["name"] for row in data["mx_gateways"]} >= {"Proofpoint Email Protection"}
