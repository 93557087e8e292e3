"""The engine: signals in, verdicts out.

Per-event and message-context signals run in :meth:`Engine.observe` (one message's events
at a time); cross-message signals need every message first, so batch classification runs
two passes (:mod:`clicksift.classify.batch`). :meth:`Engine.judge` turns findings into a
verdict: log-odds from the prior and each rule's weight, times the calibration slope
(:mod:`clicksift.classify.calibration`), a sigmoid for the score, the
strongest findings as reasons. The online path (:meth:`Engine.provisional`) runs the
per-event signals of one request in the tracking server.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from clicksift.classify.agents import AgentAnalyzer
from clicksift.classify.config import ClassifierConfig
from clicksift.classify.flat_findings import (
    AT_DECISIVE,
    AT_DETAIL,
    AT_EVIDENCE,
    AT_KIND,
    AT_RULE,
    AT_VENDOR,
    AT_WEIGHT,
    FIELDS,
    flatten,
)
from clicksift.classify.knowledge import Knowledge, load_knowledge
from clicksift.classify.networks import NetworkAnalyzer
from clicksift.classify.observe import (
    EventDigest,
    MessageFacts,
    Observed,
    message_facts,
    missing_evidence,
    resolve_link,
)
from clicksift.classify.rules import BASES, DECISIVE, RULES, STRONG, WEAK_BASES_NEEDED
from clicksift.classify.signals import EVENT_SIGNALS, context
from clicksift.classify.vocabulary import Finding, Kind, Label, Verdict
from clicksift.events import ENGAGEMENT_TYPES, Event, parse_timestamp
from clicksift.settings import Settings

ENGINE = "clicksift-engine/1"
CACHE_SIZE = 8192
_NHI = Label.NHI.value
_FOLLOW_UP = "context.follow-up-of-machine"
_HUMAN = Label.HUMAN.value
_UNKNOWN = Kind.UNKNOWN_AUTOMATION
#: How far below the threshold (in log-odds) an uncorroborated machine case is held.
UNCORROBORATED_MARGIN = 0.5
#: A machine finding scaled below this weight (an open within minutes of delivery, 0.1)
#: counts in the score but is too faint to stand as a basis of its own.
MIN_BASIS_WEIGHT = 0.15
#: A machine finding's evidence as one bit mask: a bit per basis, and above them a bit for
#: decisive and one for strong evidence (so judging ORs one number per finding).
_DECISIVE_BIT = 1 << len(BASES)
_STRONG_BIT = 1 << (len(BASES) + 1)
_BASES_MASK = _DECISIVE_BIT - 1
_LEVEL = {DECISIVE: _DECISIVE_BIT, STRONG: _STRONG_BIT}
#: Bit mask of bases -> how many bases it holds.
_BASE_COUNT = tuple(bin(mask).count("1") for mask in range(1 << len(BASES)))


def _evidence_codes() -> dict[str, int]:
    """Rule id -> its evidence mask (bases, and the decisive or strong bit); 0 for rules that
    do not point to a machine."""
    return {rule.id: (_LEVEL.get(rule.strength, 0)
                      + sum(1 << BASES.index(basis) for basis in rule.bases))
            if rule.weight > 0 else 0
            for rule in RULES.values()}


def _blind_masks() -> dict[str, int]:
    """Rule id -> the bases that do not corroborate it (those it is built on) for strong
    rules; every bit set for the others, so judging ANDs the masks of the strong findings
    and counts only the bases none of them is built on."""
    return {rule.id: sum(1 << BASES.index(basis) for basis in rule.built_on)
            if rule.strength == STRONG and rule.weight > 0 else _BASES_MASK
            for rule in RULES.values()}


def _basis_names(mask: int) -> str:
    return ", ".join(name for bit, name in enumerate(BASES) if mask >> bit & 1) or "none"


def _strongest_for_machine(finding: Finding) -> tuple[bool, float]:
    return (finding.weight <= 0, -abs(finding.weight))


def _strongest_for_person(finding: Finding) -> tuple[bool, float]:
    return (finding.weight >= 0, -abs(finding.weight))


class Engine:
    def __init__(self, config: ClassifierConfig | None = None,
                 knowledge: Knowledge | None = None) -> None:
        self.config = config or ClassifierConfig()
        self.knowledge = knowledge or load_knowledge()
        #: Recipient domain -> (vendor, scanning window) of the link-scanning gateway its MX
        #: points to (the store's MX cache: classify/gateways.py); empty when unknown.
        self.mx_gateways: dict[str, tuple[str, float]] = {}
        #: What becomes of stored request addresses once their verdicts are final
        #: (setting ip_retention: keep, truncate or hash); rescore applies it.
        self.ip_retention: str = "keep"
        self.version = f"{ENGINE} (knowledge {self.knowledge.version})"
        self.agents = AgentAnalyzer(self.knowledge)
        self.networks = NetworkAnalyzer(self.knowledge)
        self._event_signals = [signal for family, signal in EVENT_SIGNALS.items()
                               if self.config.family_enabled(family)]
        self._weights = {rule: self.config.weight(rule) for rule in RULES}
        # The same few weights and sums recur in millions of verdicts: their rounded forms
        # and scores are remembered (up to CACHE_SIZE each) rather than computed again.
        self._shown_weights: dict[float, float] = {}
        self._scores: dict[float, tuple[float, float]] = {}
        self._context = self.config.family_enabled("context")
        # Per switched-on rule: (weight, evidence mask), one lookup a finding. A weight set
        # to point the other way carries no machine evidence.
        codes, blind = _evidence_codes(), _blind_masks()
        self._judging = {rule: (weight, codes[rule] if weight > 0 else 0,
                                blind[rule] if weight > 0 else _BASES_MASK)
                         for rule, weight in self._weights.items() if weight is not None}
        self._slope = self.config.calibration
        held = math.log(self.config.threshold / (1 - self.config.threshold)) \
            - UNCORROBORATED_MARGIN
        self._uncorroborated_score = 1.0 / (1.0 + math.exp(-held))

    # -- observation ---------------------------------------------------------------------------

    def _observe_event(self, event: Event, facts: MessageFacts) -> Observed:
        agent = self.agents.analyse(event.user_agent) if event.user_agent else None
        net = self.networks.analyse(event.ip) if event.ip else None
        link_kind, link_key = resolve_link(event, facts)
        obs = Observed(event, facts, agent, net, link_kind, link_key)
        for signal in self._event_signals:
            obs.findings.extend(signal(obs))
        return obs

    def observe(self, events: list[Event]) -> list[Observed]:
        """Per-event and message-context findings for the engagement events of one message."""
        facts = message_facts(events)
        observed = [self._observe_event(e, facts) for e in events if e.type in ENGAGEMENT_TYPES]
        if self._context and observed:
            context.apply(observed)
        return observed

    # -- verdicts ------------------------------------------------------------------------------

    def judge(self, event_id: str, findings: Iterable[Finding], missing: tuple[str, ...] = (),
              *, final: bool = True) -> Verdict:
        return self._judge_flat(event_id, flatten(findings), missing, final=final)

    def _judge_flat(self, event_id: str, flat: list[Any], missing: tuple[str, ...] = (),
                    *, final: bool = True) -> Verdict:
        """:meth:`judge` for findings in the flat form (``flat_findings``: as a
        :class:`EventDigest` holds them)."""
        weights, shown_weights = self._weights, self._shown_weights
        logit = self.config.prior
        weighted: list[Finding] = []
        decisive_nhi = decisive_human = False
        evidence = 0               # the evidence discipline: machine evidence's bits
        blind = _BASES_MASK        # and the bases that cannot corroborate its strong findings
        judging = self._judging
        new, append = tuple.__new__, weighted.append
        for i in range(0, len(flat), FIELDS):
            rule = flat[i + AT_RULE]
            known = judging.get(rule)
            if known is None:
                continue
            weight = known[0] * flat[i + AT_WEIGHT]
            logit += weight
            decisive = flat[i + AT_DECISIVE]
            if decisive:
                decisive_nhi |= weight > 0
                decisive_human |= weight < 0
            if weight >= MIN_BASIS_WEIGHT:
                evidence |= known[1]
                blind &= known[2]
            shown = shown_weights.get(weight)
            if shown is None:
                shown = round(weight, 3)
                if len(shown_weights) < CACHE_SIZE:
                    shown_weights[weight] = shown
            append(new(Finding, (rule, shown, flat[i + AT_DETAIL], flat[i + AT_KIND],
                                 flat[i + AT_VENDOR], decisive, flat[i + AT_EVIDENCE])))
        scores = self._scores.get(logit)
        if scores is None:
            raw = 1.0 / (1.0 + math.exp(-max(min(self._slope * logit, 40.0), -40.0)))
            scores = (raw, round(raw, 4))
            if len(self._scores) < CACHE_SIZE:
                self._scores[logit] = scores
        score, shown_score = scores      # the threshold sees the score, people the rounded one
        if decisive_human:
            score, shown_score = min(score, 0.001), min(shown_score, 0.001)
        elif decisive_nhi:
            score, shown_score = max(score, 0.999), max(shown_score, 0.999)
        uncorroborated = False
        strong = evidence & _STRONG_BIT
        bases = evidence & _BASES_MASK
        if score >= self.config.threshold and not decisive_nhi and not (
                evidence & _DECISIVE_BIT) and (
                _BASE_COUNT[bases & ~blind] < 2 if strong
                else _BASE_COUNT[bases] < WEAK_BASES_NEEDED):
            # No decisive finding, no strong one that another basis agrees with (a basis
            # it is built on does not), and weak ones on too few bases: the circumstances
            # fit a machine, but some people too.
            uncorroborated = True
            score = min(score, self._uncorroborated_score)
            shown_score = min(shown_score, round(score, 4))
        kind = vendor = None
        if score >= self.config.threshold:
            label = _NHI
            if len(weighted) > 1:
                weighted.sort(key=_strongest_for_machine)
            for finding in weighted:
                if finding.weight <= 0:
                    break
                kind = kind or finding.kind
                vendor = vendor or finding.vendor
            kind = kind or _UNKNOWN
        else:
            label = _HUMAN
            if len(weighted) > 1:
                weighted.sort(key=_strongest_for_person)
        if uncorroborated and weights.get("evidence.uncorroborated") is not None:
            append(new(Finding, ("evidence.uncorroborated", 0.0, "the machine evidence rests "
                                 f"on {_basis_names(bases)} alone"
                                 + ("" if strong else ", and none of it is strong enough"),
                                 None, None, False, None)))
        if missing and "evidence.missing" in weights and weights["evidence.missing"] is not None:
            append(new(Finding, ("evidence.missing", 0.0, "not in the event: "
                                 + ", ".join(missing), None, None, False, None)))
        return new(Verdict, (event_id, label, shown_score, kind, vendor, tuple(weighted),
                             final))

    def judge_digest(self, digest: EventDigest) -> Verdict:
        """The final verdict on one event of a batch, from its digest (on its own: a
        message's events are judged together by :meth:`judge_message`)."""
        return self._judge_flat(digest.event_id, digest.findings, digest.missing)

    def judge_message(self, message: list[EventDigest]) -> list[Verdict]:
        """The final verdicts on one message's events (their digests, in the message's
        order, after the cross-message pass): each judged on its findings, then each
        follow-up of a machine's request by the same client (its HEAD before a GET, the
        page load before a form: ``signals.context``) takes that machine verdict, its score
        when higher, its kind and vendor, and the finding that says so."""
        verdicts = [self._judge_flat(d.event_id, d.findings, d.missing) for d in message]
        weight = self._weights.get(_FOLLOW_UP)
        if weight is None or weight <= 0:
            return verdicts         # switched off, or set to point away from a machine
        order = None
        for digest in message:
            if digest.lead is not None:
                order = sorted(range(len(message)), key=lambda i: message[i].ts)
                break
        if order is None:
            return verdicts
        judged = {v.id: v for v in verdicts}
        for i in order:
            lead_id = message[i].lead
            if lead_id is None:
                continue
            lead, own = judged.get(lead_id), verdicts[i]
            if lead is None or lead.verdict != _NHI or own.verdict == _NHI:
                continue
            found = tuple.__new__(Finding, (
                _FOLLOW_UP, round(weight, 3),
                f"the same client (address and user agent) made request {lead_id} just "
                "before, as a step of the same action, and that was a machine's "
                f"(score {lead.score})", lead.kind, lead.vendor, True, None))
            verdicts[i] = judged[own.id] = tuple.__new__(Verdict, (
                own.id, _NHI, max(own.score, lead.score), lead.kind, lead.vendor,
                (found, *own.reasons), own.final))
        return verdicts

    # -- online --------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load now what the analyzers' libraries load on first use (the address-origin
        table, the user-agent parser's expressions: about 0.05 s), so that a server's
        first request does not wait for it."""
        self.agents.warm_up()
        self.networks.warm_up()

    def provisional(self, event: Event, facts: MessageFacts | None = None) -> Verdict:
        """A verdict at request time from this one event (no message or cross-message context
        beyond a honeypot link and the delivery time the token carries)."""
        if facts is None:
            facts = MessageFacts(event.message_id)
            prepared = event.raw.get("prepared_at")
            if isinstance(prepared, str):
                try:
                    facts.delivered_at, facts.delivered_from = (parse_timestamp(prepared),
                                                                "prepared_at")
                except ValueError:
                    pass
        obs = self._observe_event(event, facts)
        if self._context:
            context.apply_one(obs)
        return self.judge(event.id, obs.findings, missing_evidence(obs), final=False)


def rule_summary(rule: str) -> str:
    return RULES[rule].summary


def engine_from_settings(settings: Settings) -> Engine:
    """The engine the settings describe (weights, switched-off rules, knowledge folder)."""
    engine = Engine(ClassifierConfig.from_settings(settings),
                    load_knowledge(settings.knowledge_dir or None))
    engine.ip_retention = settings.ip_retention
    return engine
