"""The figures `huashu eval` prints, on hand-counted inputs."""

from classifiers import evaluate
from classifiers.evaluate import IntentPrediction


def test_lint_chat_report_counts_by_hand():
    severities = evaluate.category_severities([("uncertain", "block"), ("refusal", "warn")])
    truth = [["uncertain"], ["uncertain"], ["refusal"], [], [], ["deflecting"]]
    predicted = [
        [("uncertain", "block")],  # block hit
        [],  # block miss
        [("refusal", "warn")],  # warn hit
        [("refusal", "warn")],  # false alarm, not blocked
        [("uncertain", "block")],  # false alarm, blocked
        [("refusal", "warn")],  # warn line caught, with another category
    ]
    result = evaluate.lint_chat_report(truth, predicted, severities)
    assert result["categories"]["uncertain"] == {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "support": 2,
        "flagged": 2,
    }
    assert result["categories"]["refusal"]["precision"] == round(1 / 3, 4)
    assert result["categories"]["deflecting"]["recall"] == 0.0
    assert result["block"] == {"precision": 0.5, "recall": 0.5, "support": 2, "flagged": 2}
    assert result["warn"] == {"recall": 1.0, "support": 2}
    assert result["clean"] == {"lines": 2, "false_alarms": 2, "false_alarm_rate": 1.0, "blocked": 1}


def test_rules_decide_the_severity_of_a_label():
    severities = evaluate.category_severities([("refusal", "block"), ("refusal", "warn"), ("new", "warn")])
    assert severities["refusal"] == "block"  # block wins when the rules differ
    assert severities["new"] == "warn"
    assert severities["deflecting"] == "warn"  # no rule: eval/LABELS.md's suggestion


def test_intent_chat_report_misses_supported_macro_and_multi_intent():
    def row(i, truth, predicted, confidence, intents, also=()):
        return IntentPrediction(i, f"t{i}", truth, also, predicted, confidence, intents)

    rows = [
        row("a", "logistics", "logistics", 0.9, ("logistics", "bargaining"), also=("bargaining",)),
        row("b", "refund", "other", 0.7, ()),
        row("c", "refund", "logistics", 0.95, ("logistics",)),
        row("d", "other", "other", 0.8, ()),
        row("e", "bargaining", "bargaining", 0.6, ("bargaining",), also=("logistics",)),
    ]
    labels = ["bargaining", "hesitation", "logistics", "refund", "other"]
    result = evaluate.intent_chat_report(rows, labels, misses=1, min_support=1)
    assert [m["id"] for m in result["worst_misses"]] == ["c"]  # the most confident wrong answer
    assert result["supported_labels"] == ["bargaining", "logistics", "refund", "other"]
    f1 = result["classes"]
    assert result["macro_f1_supported"] == round(
        sum(f1[label]["f1"] for label in result["supported_labels"]) / 4, 4
    )
    assert result["thin_labels"] == {"hesitation": {"support": 0, "predicted": 0, "right": 0}}
    assert result["macro_f1"] < result["macro_f1_supported"]  # hesitation's 0 pulls the 5-class one down
    assert result["multi_intent"] == {
        "messages": 2,
        "secondary_labels": 2,
        "secondary_recall": 0.5,
        "all_intents_recall": 0.5,
    }
    assert result["confusion"][labels.index("refund")][labels.index("other")] == 1
