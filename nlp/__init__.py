"""Classification of incoming messages: kind (DOMAIN.md §2) and topic.

``load_classifier()`` builds the shipped classifier once (call it at
start-up); its ``classify(text)`` is then cheap and never raises.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .labels import KINDS, TOPICS, Classification, Classifier

DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "office.json"
MODEL_ENV = "INTAKE_NLP_MODEL"
RULES_ENV = "INTAKE_NLP_RULES"

__all__ = ["Classification", "Classifier", "KINDS", "TOPICS", "load_classifier", "resolve_model_path",
           "DEFAULT_MODEL_PATH"]

_cache: dict = {}
_lock = threading.Lock()


def resolve_model_path(model_path: str | Path | None = None) -> Path | None:
    """The model to use: the argument, else $INTAKE_NLP_MODEL, else the
    shipped model (None if none of them exists)."""
    for cand in (model_path, os.environ.get(MODEL_ENV)):
        if cand:
            return Path(cand)
    return DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.exists() else None


def load_classifier(model_path: str | Path | None = None, *, mode: str = "combined",
                    rules_path: str | Path | None = None):
    """Build (once per model/rules/mode) and return the office classifier.

    Initialises jieba with the user dictionary, parses the rules file
    (``$INTAKE_NLP_RULES`` or the shipped nlp/rules.yaml) and loads the model.
    A model path that does not exist is an error (FileNotFoundError), so a
    typo in INTAKE_NLP_MODEL is noticed at start-up.
    """
    from . import segment
    from .classifier import OfficeClassifier
    from .model import LinearModel
    from .rules import Rules

    path = resolve_model_path(model_path)
    rules_path = rules_path or os.environ.get(RULES_ENV) or None
    key = (str(path), str(rules_path), mode)
    with _lock:
        clf = _cache.get(key)
        if clf is None:
            segment.init()
            rules = Rules.load(rules_path)
            model = None
            if path is not None:
                if not path.exists():
                    raise FileNotFoundError(f"model file not found: {path}")
                model = LinearModel.load(path)
            clf = _cache[key] = OfficeClassifier(rules, model, mode=mode)
    return clf
