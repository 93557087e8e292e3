"""The classifier: explainable human/NHI verdicts for opens, clicks and unsubscribes.

    engine = Engine(ClassifierConfig.from_settings(settings))
    for verdict in BatchClassifier(engine).classify(events):
        ...

See docs/classifier.md for how it works and docs/rules.md for every rule.
"""

from clicksift.classify import engine as _engine
from clicksift.classify.batch import BatchClassifier
from clicksift.classify.config import ClassifierConfig, check_settings
from clicksift.classify.engine import Engine, engine_from_settings
from clicksift.classify.vocabulary import Finding, Kind, Label, Verdict

#: Whether this installation runs the classifier compiled to C (setup.py, mypyc) or as plain
#: Python; the verdicts are the same, the speed is not (docs/benchmarks.md).
COMPILED = not (_engine.__file__ or "").endswith(".py")

__all__ = ["COMPILED", "BatchClassifier", "ClassifierConfig", "Engine", "Finding", "Kind",
           "Label", "Verdict", "check_settings", "engine_from_settings"]
