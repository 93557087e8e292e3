"""ESP hints: the bot flags some ESPs put on their events, passed through in esp_flags."""

from __future__ import annotations

from typing import Any

from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, Kind, finding

#: esp_flags keys that mark a machine, with the kind and vendor they imply.
MACHINE_FLAGS: dict[str, tuple[str, str | None]] = {
    "sg_machine_open": (Kind.PRIVACY_PREFETCH, "apple_mpp"),      # SendGrid
    "machine_open": (Kind.PRIVACY_PREFETCH, None),
    "is_machine_open": (Kind.PRIVACY_PREFETCH, None),
    "apple_mpp": (Kind.PRIVACY_PREFETCH, "apple_mpp"),
    "mpp": (Kind.PRIVACY_PREFETCH, "apple_mpp"),
    "proxy_open": (Kind.PRIVACY_PREFETCH, None),                  # Brevo
    "Apple Privacy Open": (Kind.PRIVACY_PREFETCH, "apple_mpp"),   # Klaviyo
    "Machine Open": (Kind.PRIVACY_PREFETCH, None),                # Klaviyo
    "bot": (Kind.UNKNOWN_AUTOMATION, None),
    "is_bot": (Kind.UNKNOWN_AUTOMATION, None),
    "isBot": (Kind.UNKNOWN_AUTOMATION, None),
    "machine": (Kind.UNKNOWN_AUTOMATION, None),
}
_APPLE_VALUES = frozenset({"apple", "apple_mpp", "mpp", "apple-mpp"})
#: esp_flags keys that carry an ESP's *suspicion* of a machine (Braze's suspected bot
#: clicks, Klaviyo's bot clicks): no evidence for the classifier, but what the ESP's own
#: reports leave out.
SUSPICION_FLAGS = frozenset({"is_suspected_bot_click", "Bot Click"})


def esp_says_machine(flags: Any) -> bool:
    """Whether an ESP's flags (esp_flags) count the event as a machine in the ESP's own
    reports: a machine flag or a suspicion set to a true value."""
    if not isinstance(flags, dict):
        return False
    return any((key in MACHINE_FLAGS or key in SUSPICION_FLAGS) and _truthy(value)
               for key, value in flags.items())


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in {"", "false", "0", "no", "none", "null"}
    return bool(value)


def findings(obs: Observed) -> list[Finding]:
    flags = obs.event.esp_flags
    if not flags:
        return []
    for key, value in flags.items():
        if key in MACHINE_FLAGS and _truthy(value):
            kind, vendor = MACHINE_FLAGS[key]
            if isinstance(value, str) and value.lower() in _APPLE_VALUES:
                kind, vendor = Kind.PRIVACY_PREFETCH, "apple_mpp"
            return [finding("esp.machine-flag", 1.0, f"the ESP marked it: {key}={value!r}",
                            kind, vendor)]
    return []
