import json
from collections import Counter
from functools import partial

import pytest

from classifiers import Intent
from classifiers.corpus import CorpusError, load_replies, reply_from_dict, training_examples
from classifiers.intent import MODEL_FILE, train


def test_at_least_twenty_replies_per_intent():
    counts = Counter(intent for reply in load_replies() for intent in reply.intents)
    for intent in (Intent.BARGAINING, Intent.HESITATION, Intent.LOGISTICS, Intent.REFUND):
        assert counts[intent] >= 20, intent


def test_every_approved_reply_passes_the_linter(engine):
    """A shipped reply is offered to every shop, whatever its platform: clean (not even a
    warning) under every lint profile, the strict default included."""
    profiles = engine.linter.profiles
    assert {"strict", "taobao", "jd", "pinduoduo"} <= set(profiles)
    for reply in load_replies():
        for profile in profiles:
            assert engine.lint(reply.text, profile).flags == [], (reply.id, profile)


def test_reply_ids_unique():
    ids = [reply.id for reply in load_replies()]
    assert len(ids) == len(set(ids))


def test_bad_reply_entry_is_named():
    with pytest.raises(CorpusError, match="r1"):
        reply_from_dict({"id": "r1", "intents": ["nonsense"], "text": "x"})


def test_model_artifact_is_reproducible(engine):
    """The committed model is what `huashu train` builds from the data now."""
    pytest.importorskip("sklearn")
    from classifiers.engine import analyze

    rebuilt = train(training_examples(), partial(analyze, engine.tokenizer))
    committed = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    assert rebuilt["weights"].keys() == committed["weights"].keys()
    assert rebuilt["intercepts"] == pytest.approx(committed["intercepts"], abs=1e-4)
    for feature, weights in committed["weights"].items():
        assert rebuilt["weights"][feature] == pytest.approx(weights, abs=1e-4), feature
    for key in ("intents", "threshold", "context_weight", "secondary"):
        assert rebuilt[key] == pytest.approx(committed[key]), key
