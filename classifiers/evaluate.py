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
