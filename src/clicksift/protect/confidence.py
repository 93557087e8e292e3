"""How sure a verdict must be before an action that can harm a person acts on it.

Reports count machines at the classifier's threshold (``nhi_threshold``). Holding an
unsubscribe, keeping an event from a people-only webhook and sunsetting cost a person
dearly when the verdict is wrong, so each acts only on a non-human verdict whose score (a
probability, docs/classifier.md) reaches its own bar (``hold_unsubscribe_score``,
``webhook_machine_score``, ``sunset_machine_score``); below the bar the event counts as
the person's for that action.
"""

from __future__ import annotations

from clicksift.classify.vocabulary import Label


def machine_for_action(verdict: str | None, score: float | None, bar: float) -> bool:
    """Whether an action with BAR treats an event with VERDICT and SCORE as a machine's
    (no verdict yet: a person's)."""
    return verdict == Label.NHI and score is not None and score >= bar
