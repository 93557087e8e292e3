"""The classifier: explainable human/NHI verdicts for opens, clicks and unsubscribes.

    engine = Engine(ClassifierConfig.from_settings(settings))
    for verdict in BatchClassifier(engine).classify(events):
        ...

See docs/classifier.md for how it works and docs/rules.md for every rule.
"""

from clicksift.classify.batch import BatchClassifier
from clicksift.classify.config import ClassifierConfig
from clicksift.classify.engine import Engine, engine_from_settings
from clicksift.classify.vocabulary import Finding, Kind, Label, Verdict

__all__ = ["BatchClassifier", "ClassifierConfig", "Engine", "Finding", "Kind", "Label",
           "Verdict", "engine_from_settings"]
