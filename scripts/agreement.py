"""Agreement between two intent labellers on the real buyer messages (issue 16, stop 23).

    .venv/bin/python scripts/agreement.py sheet [-n 300] [--seed 23] > /tmp/sheet.txt
    .venv/bin/python scripts/agreement.py compare [--a eval/chat_intent_labels.jsonl]
                                                  [--b eval/second_intent_labels.jsonl]

``sheet`` prints a seeded random sample of labelled buyer messages from the dev and held-out
splits (never ``fresh``), stratified by split (each split in proportion to its size), each with
its session around it from ``../shared/data/dev_chats.jsonl`` and **without** the committed
labels, so a second person can label them blind. Its output holds real text: keep it out of the
repository. ``compare`` reads the second labels (labeller B) and scores them against the
committed ones (labeller A) on the ids of B: raw agreement, Cohen's kappa, per-intent
precision/recall/F1 of B against A, macro-F1, and the confusion matrix (rows A, columns B).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers import evaluate

ROOT = Path(__file__).resolve().parent.parent
LABELS_A = ROOT / "eval" / "chat_intent_labels.jsonl"
LABELS_B = ROOT / "eval" / "second_intent_labels.jsonl"
CHATS = ROOT.parent / "shared" / "data" / "dev_chats.jsonl"
INTENTS = ("bargaining", "hesitation", "logistics", "refund", "other")
SPLITS = ("dev", "heldout")


class LabelFileError(ValueError):
    """A label file that cannot be read: the message names the file and the line."""


def read_jsonl(path: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LabelFileError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise LabelFileError(f"{path}:{number}: a row must be an object with a string id")
            rows.append(row)
    return rows


def read_intents(path: Path) -> dict[str, str]:
    """id → intent; a missing or unknown intent, or an id given twice, is an error."""
    out: dict[str, str] = {}
    for number, row in enumerate(read_jsonl(path), 1):
        key, intent = str(row["id"]), row.get("intent")
        if intent not in INTENTS:
            raise LabelFileError(f"{path}: row {number} ({key}): intent {intent!r} is not one of {INTENTS}")
        if key in out:
            raise LabelFileError(f"{path}: row {number}: id {key} given twice")
        out[key] = str(intent)
    return out


# --- sheet -----------------------------------------------------------------------------------


def sample_ids(rows: Iterable[dict[str, object]], n: int, seed: int) -> list[tuple[str, str]]:
    """(id, split) of n rows from dev and held-out, each split in proportion to its size."""
    by_split: dict[str, list[str]] = {split: [] for split in SPLITS}
    for row in rows:
        split = row.get("split")
        if split in by_split:
            by_split[str(split)].append(str(row["id"]))
    total = sum(len(ids) for ids in by_split.values())
    rng = random.Random(seed)
    picked: list[tuple[str, str]] = []
    for position, split in enumerate(SPLITS):
        ids = sorted(by_split[split])
        # the last split takes the rounding remainder, so the sample has exactly n rows
        want = n - len(picked) if position == len(SPLITS) - 1 else round(n * len(ids) / max(total, 1))
        picked += [(key, split) for key in rng.sample(ids, min(want, len(ids)))]
    return sorted(picked)


def sheet(n: int, seed: int, before: int, after: int) -> str:
    chats = read_jsonl(CHATS)
    sessions: dict[str, list[dict[str, object]]] = {}
    for row in chats:
        sessions.setdefault(str(row["session"]), []).append(row)
    where = {str(row["id"]): row for row in chats}
    lines: list[str] = []
    for number, (key, split) in enumerate(sample_ids(read_jsonl(LABELS_A), n, seed), 1):
        row = where[key]
        turns = sessions[str(row["session"])]
        at = next(i for i, turn in enumerate(turns) if turn["id"] == key)
        lines.append(f"=== {number} {key} {split}")
        for turn in turns[max(0, at - before) : at + after + 1]:
            mark = ">>" if turn["id"] == key else "  "
            who = "B" if turn["role"] == "buyer" else "S"
            lines.append(f"{mark} {who}: {turn['text']}")
    return "\n".join(lines) + "\n"


# --- compare ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    n: int
    raw: float
    kappa: float
    per_intent: dict[str, tuple[float, float, float, int]]  # precision, recall, F1, support in A
    macro_f1: float  # over the intents either labeller used
    confusion: dict[tuple[str, str], int]  # (A, B) → count


def agreement(a: Sequence[str], b: Sequence[str]) -> Agreement:
    """B scored against A: raw agreement, Cohen's kappa, P/R/F1 per intent, confusion matrix.

    P/R/F1 and the confusion come from ``classifiers.evaluate.report`` (the evaluator's own
    arithmetic), over the intents either labeller used; kappa is added here.
    """
    if len(a) != len(b) or not a:
        raise ValueError("two non-empty label lists of the same length are needed")
    n = len(a)
    count_a, count_b = Counter(a), Counter(b)
    used = [label for label in INTENTS if count_a[label] or count_b[label]]
    scored = evaluate.report(a, b, used)
    observed = scored.accuracy
    expected = sum(count_a[label] * count_b[label] for label in INTENTS) / (n * n)
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    per_intent = {label: (0.0, 0.0, 0.0, 0) for label in INTENTS}
    per_intent.update({c.label: (c.precision, c.recall, c.f1, c.support) for c in scored.classes})
    confusion = {
        (x, y): count for x, row in zip(used, scored.confusion) for y, count in zip(used, row) if count
    }
    return Agreement(n, observed, kappa, per_intent, scored.macro_f1, confusion)


def report(result: Agreement, title: str) -> str:
    out = [f"{title}: n={result.n}  raw agreement {result.raw:.3f}  Cohen's kappa {result.kappa:.3f}"]
    out.append(f"  macro-F1 of B against A (intents either used): {result.macro_f1:.3f}")
    out.append(f"  {'intent':<11} {'P':>6} {'R':>6} {'F1':>6} {'n(A)':>5}")
    for label, (p, r, f1, support) in result.per_intent.items():
        out.append(f"  {label:<11} {p:6.3f} {r:6.3f} {f1:6.3f} {support:5d}")
    out.append("  confusion (rows A = committed, columns B = second labeller):")
    out.append("  " + " " * 11 + "".join(f"{label[:6]:>7}" for label in INTENTS))
    for x in INTENTS:
        cells = "".join(f"{result.confusion.get((x, y), 0):7d}" for y in INTENTS)
        out.append(f"  {x:<11}{cells}")
    return "\n".join(out)


def bootstrap(
    a: Sequence[str], b: Sequence[str], rounds: int, seed: int
) -> tuple[float, float, float, float]:
    """95 % percentile intervals of kappa and macro-F1, resampling the messages with replacement."""
    rng = random.Random(seed)
    kappas, macros = [], []
    for _ in range(rounds):
        picks = [rng.randrange(len(a)) for _ in a]
        result = agreement([a[i] for i in picks], [b[i] for i in picks])
        kappas.append(result.kappa)
        macros.append(result.macro_f1)
    kappas.sort()
    macros.sort()
    low, high = int(0.025 * rounds), min(rounds - 1, int(0.975 * rounds))
    return kappas[low], kappas[high], macros[low], macros[high]


def compare(path_a: Path, path_b: Path, rounds: int = 0) -> str:
    a = read_intents(path_a)
    rows_b = read_jsonl(path_b)
    b = read_intents(path_b)
    missing = sorted(set(b) - set(a))
    if missing:
        raise LabelFileError(f"{path_b}: {len(missing)} ids have no label in {path_a}: {missing[:5]}")
    split_of = {str(row["id"]): str(row.get("split", "")) for row in rows_b}
    ids = sorted(b)
    parts = [report(agreement([a[i] for i in ids], [b[i] for i in ids]), "all")]
    if rounds:
        k_low, k_high, m_low, m_high = bootstrap([a[i] for i in ids], [b[i] for i in ids], rounds, 23)
        parts.append(
            f"  bootstrap ({rounds} resamples, seed 23), 95 %: kappa {k_low:.3f}-{k_high:.3f}, "
            f"macro-F1 {m_low:.3f}-{m_high:.3f}"
        )
    for split in SPLITS:
        chosen = [i for i in ids if split_of[i] == split]
        if chosen:
            result = agreement([a[i] for i in chosen], [b[i] for i in chosen])
            parts.append(
                f"{split}: n={result.n}  raw {result.raw:.3f}  kappa {result.kappa:.3f}  "
                f"macro-F1 {result.macro_f1:.3f}"
            )
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sheet", help="a blind labelling sheet (real text: never commit it)")
    s.add_argument("-n", type=int, default=300)
    s.add_argument("--seed", type=int, default=23)
    s.add_argument("--before", type=int, default=6, help="session turns shown before the message")
    s.add_argument("--after", type=int, default=1, help="session turns shown after the message")
    c = sub.add_parser("compare", help="labeller B against labeller A")
    c.add_argument("--a", type=Path, default=LABELS_A)
    c.add_argument("--b", type=Path, default=LABELS_B)
    c.add_argument("--bootstrap", type=int, default=0, metavar="N", help="also N bootstrap resamples")
    args = parser.parse_args(argv)
    try:
        if args.command == "sheet":
            if not CHATS.exists():
                print(f"{CHATS} is absent: the sheet needs the real chats", file=sys.stderr)
                return 2
            sys.stdout.write(sheet(args.n, args.seed, args.before, args.after))
        else:
            sys.stdout.write(compare(args.a, args.b, args.bootstrap))
    except (LabelFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
