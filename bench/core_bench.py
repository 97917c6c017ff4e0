"""In-process cost of classify + rank + lint per message, by corpus size.

    python bench/core_bench.py [--sizes 1000,10000,100000] [--messages 2000]

Messages are the real buyer messages in ../shared/data (and the seeds' phrasing through the
corpus triggers). Prints median and p99 per message and the growth from the smallest corpus.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus_gen import perturbed_corpus  # noqa: E402
from classifiers import Engine  # noqa: E402
from classifiers.corpus import load_replies  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "dev_buyer_messages.jsonl"


def messages() -> list[str]:
    texts = [
        json.loads(line)["text"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return texts + [t for r in load_replies() for t in r.triggers]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    base = Engine.load()
    texts = messages()
    drafts = [r.text for r in load_replies()] + ["可能吧", "嗯", "应该是吧亲", "加我微信"]
    replies = load_replies()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        engine = base.with_corpus(replies=perturbed_corpus(replies, size))
        build_s = time.perf_counter() - started
        for text in texts[:200]:  # warm caches
            engine.suggest(text)
        timings = []
        for i in range(args.messages):
            text, draft = texts[i % len(texts)], drafts[i % len(drafts)]
            t0 = time.perf_counter()
            engine.suggest(text, k=3)
            engine.lint(draft)
            timings.append((time.perf_counter() - t0) * 1000)
        row = {
            "replies": size,
            "index_build_s": round(build_s, 2),
            "median_ms": round(statistics.median(timings), 4),
            "p99_ms": round(percentile(timings, 0.99), 4),
        }
        results.append(row)
        print(
            f"{size:>7} replies  median {row['median_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
            f"(index built in {build_s:.1f} s)",
            flush=True,
        )
    growth = results[-1]["median_ms"] / results[0]["median_ms"]
    print(json.dumps({"results": results, "median_growth": round(growth, 2)}))


if __name__ == "__main__":
    main()
