"""Measure the classifier, the ranking and the linter on labelled files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClassReport:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Report:
    classes: list[ClassReport]
    macro_f1: float
    accuracy: float
    labels: list[str]
    confusion: list[list[int]]  # confusion[true][predicted], in ``labels`` order

    def to_dict(self) -> dict:
        return {
            "classes": {
                c.label: {"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}
                for c in self.classes
            },
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "labels": self.labels,
            "confusion": self.confusion,
        }


def report(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Report:
    """Per-class precision/recall/F1, macro-F1 over ``labels``, and the confusion matrix."""
    index = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        confusion[index[t]][index[p]] += 1
    classes = []
    for label, i in index.items():
        true_positive = confusion[i][i]
        predicted_count = sum(row[i] for row in confusion)
        support = sum(confusion[i])
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        classes.append(ClassReport(label, round(precision, 4), round(recall, 4), round(f1, 4), support))
    macro = sum(c.f1 for c in classes) / len(classes) if classes else 0.0
    correct = sum(confusion[i][i] for i in range(len(labels)))
    accuracy = correct / len(truth) if truth else 0.0
    return Report(classes, round(macro, 4), round(accuracy, 4), list(labels), confusion)


def format_report(result: Report, title: str) -> str:
    width = max(len("macro-F1"), *(len(label) for label in result.labels)) + 2
    lines = [title, f"{'class':<{width}}precision  recall  f1      support"]
    for c in result.classes:
        lines.append(f"{c.label:<{width}}{c.precision:<11.3f}{c.recall:<8.3f}{c.f1:<8.3f}{c.support}")
    lines.append(f"{'macro-F1':<{width}}{result.macro_f1:.3f}    accuracy {result.accuracy:.3f}")
    lines.append("")
    lines.append("confusion (rows: true, columns: predicted)")
    short = [label[:6] for label in result.labels]
    lines.append(" " * width + "".join(f"{s:>8}" for s in short))
    for label, row in zip(result.labels, result.confusion):
        lines.append(f"{label:<{width}}" + "".join(f"{n:>8}" for n in row))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class RankReport:
    cases: int
    hit_at_1: float
    hit_at_k: float
    mrr: float
    k: int

    def to_dict(self) -> dict:
        return {
            "cases": self.cases,
            "hit_at_1": self.hit_at_1,
            f"hit_at_{self.k}": self.hit_at_k,
            "mrr": self.mrr,
        }


def rank_report(ranked_ids: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int) -> RankReport:
    """Hit@1, hit@k and mean reciprocal rank of the first relevant reply."""
    hits1 = hitsk = 0
    reciprocal = 0.0
    for ids, good in zip(ranked_ids, relevant, strict=True):
        for position, reply_id in enumerate(ids[:k], start=1):
            if reply_id in good:
                hits1 += position == 1
                hitsk += 1
                reciprocal += 1 / position
                break
    n = max(1, len(relevant))
    return RankReport(len(relevant), round(hits1 / n, 4), round(hitsk / n, 4), round(reciprocal / n, 4), k)


# --- Real-chat labels (eval/chat_*_labels.jsonl): ids and labels, texts joined at run time ---

# What ``--split`` accepts → the label files' "split" values it reads. "fresh" is a test set
# kept for later (eval/LABELS.md): only asking for it by name reads it, "all" does not.
SPLITS: dict[str, frozenset[str]] = {
    "all": frozenset({"dev", "heldout"}),
    "train": frozenset({"dev"}),
    "dev": frozenset({"dev"}),
    "held-out": frozenset({"heldout"}),
    "heldout": frozenset({"heldout"}),
    "fresh": frozenset({"fresh"}),
}

# eval/LABELS.md's suggested severity per label category. The rules file decides: where a rule
# has the category, its severity wins (see ``category_severities``).
LABEL_SEVERITY: dict[str, str] = {
    "uncertain": "block",
    "curt": "block",
    "off_platform": "block",
    "absolute_claim": "block",
    "rude": "block",
    "refusal": "warn",
    "questioning": "warn",
    "deflecting": "warn",
    "blame": "warn",
}


def category_severities(rules: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Category → severity of a labelled flag: the rules' (block if they differ), else LABELS.md's."""
    severities = dict(LABEL_SEVERITY)
    from_rules: dict[str, str] = {}
    for category, severity in rules:
        if from_rules.get(category) != "block":
            from_rules[category] = severity
    severities.update(from_rules)
    return severities


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def lint_chat_report(
    truth: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[tuple[str, str]]],
    severities: dict[str, str],
) -> dict:
    """Lint figures on labelled lines.

    ``truth[i]``: the categories line i is labelled with (empty: clean); ``predicted[i]``: the
    (category, severity) of each flag the linter raised. A line is *block* when any label (by
    ``severities``) or any raised flag is block; block precision/recall compare those. Warn
    recall: of the lines whose labels hold a warn category, how many got any flag at all.
    A false alarm is any flag on a clean line.
    """
    categories = sorted({c for flags in truth for c in flags} | {c for flags in predicted for c, _ in flags})
    per_category = {}
    for category in categories:
        tp = fp = fn = 0
        for labelled, raised in zip(truth, predicted, strict=True):
            is_true = category in labelled
            is_raised = any(c == category for c, _ in raised)
            tp += is_true and is_raised
            fp += is_raised and not is_true
            fn += is_true and not is_raised
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
        per_category[category] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": tp + fn,
            "flagged": tp + fp,
        }
    block_tp = block_fp = block_fn = warn_support = warn_caught = 0
    clean = false_alarms = clean_blocked = 0
    for labelled, raised in zip(truth, predicted, strict=True):
        true_block = any(severities.get(c, "block") == "block" for c in labelled)
        raised_block = any(s == "block" for _, s in raised)
        block_tp += true_block and raised_block
        block_fp += raised_block and not true_block
        block_fn += true_block and not raised_block
        if any(severities.get(c, "block") == "warn" for c in labelled):
            warn_support += 1
            warn_caught += bool(raised)
        if not labelled:
            clean += 1
            false_alarms += bool(raised)
            clean_blocked += raised_block
    return {
        "lines": len(truth),
        "categories": per_category,
        "block": {
            "precision": _ratio(block_tp, block_tp + block_fp),
            "recall": _ratio(block_tp, block_tp + block_fn),
            "support": block_tp + block_fn,
            "flagged": block_tp + block_fp,
        },
        "warn": {"recall": _ratio(warn_caught, warn_support), "support": warn_support},
        "clean": {
            "lines": clean,
            "false_alarms": false_alarms,
            "false_alarm_rate": _ratio(false_alarms, clean),
            "blocked": clean_blocked,
        },
    }


def format_lint_chat(result: dict, title: str) -> str:
    lines = [title, f"{'category':<16}precision  recall  f1      support  flagged"]
    for category, c in result["categories"].items():
        lines.append(
            f"{category:<16}{c['precision']:<11.3f}{c['recall']:<8.3f}{c['f1']:<8.3f}"
            f"{c['support']:<9}{c['flagged']}"
        )
    block, warn, clean = result["block"], result["warn"], result["clean"]
    lines.append(
        f"block: precision {block['precision']:.3f} recall {block['recall']:.3f} "
        f"(support {block['support']}, flagged {block['flagged']})"
    )
    lines.append(f"warn: recall {warn['recall']:.3f} (support {warn['support']})")
    lines.append(
        f"false alarms on clean lines: {clean['false_alarms']}/{clean['lines']} "
        f"= {clean['false_alarm_rate']:.2%} ({clean['blocked']} blocked)"
    )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    """What the classifier said about one labelled message."""

    id: str
    text: str
    truth: str
    also: tuple[str, ...]
    predicted: str
    confidence: float
    intents: tuple[str, ...]  # every intent at or above the secondary cut, best first


def intent_chat_report(
    rows: Sequence[IntentPrediction], labels: Sequence[str], misses: int = 20, min_support: int = 5
) -> dict:
    """Per-intent P/R/F1, macro-F1 over all labels and over those with at least ``min_support``
    labelled lines, the confusion matrix, the ``misses`` most confident wrong answers, and
    multi-intent recall: of the secondary (``also``) intents labelled, how many the
    classification lists.

    A label below ``min_support`` (hesitation: one real line in all the data, see
    eval/LABELS.md) is reported apart: how often it was predicted and how often rightly. Its
    F1 on 0–1 lines is noise, and in the five-label macro-F1 a label with no support counts 0.
    """
    result = report([r.truth for r in rows], [r.predicted for r in rows], labels)
    supported = [c.f1 for c in result.classes if c.support >= min_support]
    thin = {
        c.label: {
            "support": c.support,
            "predicted": sum(r.predicted == c.label for r in rows),
            "right": sum(r.predicted == c.label == r.truth for r in rows),
        }
        for c in result.classes
        if c.support < min_support
    }
    wrong = sorted((r for r in rows if r.predicted != r.truth), key=lambda r: (-r.confidence, r.id))
    also_total = sum(len(r.also) for r in rows)
    also_found = sum(a in r.intents for r in rows for a in r.also)
    multi = [r for r in rows if r.also]
    both = sum(r.truth in r.intents and all(a in r.intents for a in r.also) for r in multi)
    return {
        "messages": len(rows),
        **result.to_dict(),
        "macro_f1_supported": round(sum(supported) / len(supported), 4) if supported else 0.0,
        "supported_labels": [c.label for c in result.classes if c.support >= min_support],
        "thin_labels": thin,
        "multi_intent": {
            "messages": len(multi),
            "secondary_labels": also_total,
            "secondary_recall": _ratio(also_found, also_total),
            "all_intents_recall": _ratio(both, len(multi)),
        },
        "worst_misses": [
            {
                "id": r.id,
                "truth": r.truth,
                "predicted": r.predicted,
                "confidence": r.confidence,
                "intents": list(r.intents),
                "text": r.text,
            }
            for r in wrong[:misses]
        ],
    }


def format_intent_chat(result: dict, title: str) -> str:
    base = Report(
        classes=[ClassReport(label, **values) for label, values in result["classes"].items()],
        macro_f1=result["macro_f1"],
        accuracy=result["accuracy"],
        labels=result["labels"],
        confusion=result["confusion"],
    )
    lines = [format_report(base, title)]
    lines.append(
        f"macro-F1 over the {len(result['supported_labels'])} labels with enough support "
        f"({', '.join(result['supported_labels'])}): {result['macro_f1_supported']:.3f}"
    )
    for label, thin in result["thin_labels"].items():
        lines.append(
            f"{label}: {thin['support']} labelled lines, too few for F1 (reported apart): "
            f"predicted {thin['predicted']} times, {thin['right']} right"
        )
    multi = result["multi_intent"]
    lines.append(
        f"multi-intent: {multi['messages']} messages, secondary recall {multi['secondary_recall']:.3f} "
        f"of {multi['secondary_labels']}, all intents found {multi['all_intents_recall']:.3f}"
    )
    if result["worst_misses"]:
        lines.append(f"{len(result['worst_misses'])} worst misses (most confident first):")
        for m in result["worst_misses"]:
            lines.append(
                f"  {m['id']:<16} {m['truth']:>10} → {m['predicted']:<10} {m['confidence']:.3f}  {m['text']}"
            )
    return "\n".join(lines)
