"""The classifier's settings: threshold, prior, weights, and which rules run."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from clicksift.classify.calibration import SLOPE
from clicksift.classify.rules import FAMILIES, RULES
from clicksift.errors import ConfigError
from clicksift.settings import Settings


@dataclass(frozen=True)
class ClassifierConfig:
    threshold: float = 0.5          # score at or above which an event is NHI
    prior: float = -0.7             # log-odds before any evidence
    weights: dict[str, float] = field(default_factory=dict)    # overrides of RULES weights
    disabled: tuple[str, ...] = ()  # rule ids, families, or patterns such as "ua.*"
    calibration: float = SLOPE      # the evidence's log-odds times this: the score's log-odds

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ConfigError(f"the NHI threshold must be between 0 and 1, not {self.threshold}")
        if not self.calibration > 0:
            raise ConfigError(f"the calibration slope must be above 0, not {self.calibration}")
        for rule in self.weights:
            if rule not in RULES:
                raise ConfigError(f"setting 'rule_weights' names an unknown rule {rule!r}")
        for pattern in self.disabled:
            if (pattern not in FAMILIES and not fnmatch.filter(RULES, pattern)):
                raise ConfigError(f"setting 'disabled_rules': {pattern!r} matches no rule or "
                                  f"family (families: {', '.join(FAMILIES)})")
        object.__setattr__(self, "_resolved", {rule: self._resolve(rule) for rule in RULES})

    def _resolve(self, rule: str) -> float | None:
        info = RULES[rule]
        for pattern in self.disabled:
            if pattern == info.family or fnmatch.fnmatch(rule, pattern):
                return None
        return self.weights.get(rule, info.weight)

    def weight(self, rule: str) -> float | None:
        """The rule's weight, or None when it is switched off."""
        resolved: dict[str, float | None] = object.__getattribute__(self, "_resolved")
        return resolved.get(rule)

    def family_enabled(self, family: str) -> bool:
        return any(self.weight(rule.id) is not None for rule in RULES.values()
                   if rule.family == family)

    @classmethod
    def from_settings(cls, settings: Settings) -> ClassifierConfig:
        return cls(threshold=settings.nhi_threshold, weights=parse_weights(settings.rule_weights),
                   disabled=tuple(settings.disabled_rules))


def check_settings(settings: Settings) -> None:
    """The classifier's settings hold (rule_weights parses and names real rules,
    disabled_rules matches rules or families): ConfigError naming the setting, when the
    settings are loaded rather than when a first event is judged."""
    ClassifierConfig.from_settings(settings)


def parse_weights(text: str) -> dict[str, float]:
    """'rule=weight,rule2=weight' (the rule_weights setting)."""
    weights = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        rule, sep, value = part.partition("=")
        try:
            weights[rule.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"setting 'rule_weights': {part!r} is not rule=number") from None
        if not sep:
            raise ConfigError(f"setting 'rule_weights': {part!r} is not rule=number")
    return weights
