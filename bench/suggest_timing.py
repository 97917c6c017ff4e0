"""In-process cost of ``Engine.suggest`` alone on 1,000 messages (no lint, no server).

    python bench/suggest_timing.py [--messages 1000] [--repeats 5]

Messages: the real buyer messages of ../shared/data/dev_chats.jsonl when present (else the
corpus triggers). The shipped corpus and a 1,000-reply perturbed one; the best of the
repeats is printed (the machine is shared, so the minimum is the stable figure).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus_gen import perturbed_corpus  # noqa: E402
from classifiers import Engine  # noqa: E402
from classifiers.corpus import load_replies  # noqa: E402

CHATS = ROOT.parent / "shared" / "data" / "dev_chats.jsonl"


def messages(count: int) -> list[str]:
    texts: list[str] = []
    if CHATS.exists():
        for line in CHATS.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["role"] == "buyer":
                texts.append(row["text"])
    texts += [t for r in load_replies() for t in r.triggers]
    return [texts[i % len(texts)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    base = Engine.load()
    texts = messages(args.messages)
    summary = {}
    for name, engine in (
        ("shipped", base),
        ("1000", base.with_corpus(replies=perturbed_corpus(load_replies(), 1000))),
    ):
        for text in texts[:200]:  # warm caches
            engine.suggest(text)
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            for text in texts:
                engine.suggest(text, k=3)
            best = min(best, time.perf_counter() - started)
        summary[name] = {"replies": engine.index.size, "us_per_message": round(best / len(texts) * 1e6, 1)}
        print(f"{name:>8} corpus ({engine.index.size} replies): {best / len(texts) * 1e6:.1f} µs per suggest")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
