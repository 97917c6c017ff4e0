"""In-process cost of ``Linter.lint`` per real seller line.

    python bench/lint_cost.py [--repeats 5] [--profile jd] [--profile-out FILE]

Lines are the distinct seller lines of ../shared/data (dev_chats seller turns and
dev_seller_lines), linted with the shipped rules (scripts_corpus/lint_rules.yaml). Each repeat
lints every line once; the figure is the best repeat's mean CPU time (``time.process_time``:
the machine is shared, and wall time counts the moments another process had the core), with the
median repeat and the best wall-clock repeat beside it. ``--profile-out`` writes
a cProfile of one more pass.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers import corpus  # noqa: E402
from classifiers.lint import Linter  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def seller_lines() -> list[str]:
    texts: dict[str, None] = {}
    for name in ("dev_chats.jsonl", "dev_seller_lines.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("role", "seller") == "seller":
                    texts[row["text"]] = None
    return list(texts)


def build_linter() -> Linter:
    rules = corpus.load_lint_rules()
    # Older trees had no profiles: lint with the rules alone there.
    if hasattr(corpus, "load_lint_profiles") and len(inspect.signature(Linter).parameters) > 1:
        return Linter(rules, corpus.load_lint_profiles())  # type: ignore[call-arg]
    return Linter(rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", default=None, help="lint profile (jd, strict …); older trees: none")
    parser.add_argument("--profile-out", default=None, help="write a cProfile of one pass here")
    args = parser.parse_args()
    if not (DATA / "dev_chats.jsonl").is_file():
        sys.exit(f"no real lines: {DATA} not found")
    lines = seller_lines()
    linter = build_linter()

    def lint(text: str):  # type: ignore[no-untyped-def]
        return linter.lint(text, args.profile) if args.profile else linter.lint(text)

    for text in lines:  # warm caches (character tables, OpenCC)
        lint(text)
    means, walls = [], []
    for _ in range(args.repeats):
        started, wall = time.process_time(), time.perf_counter()
        for text in lines:
            lint(text)
        means.append((time.process_time() - started) / len(lines) * 1e6)
        walls.append((time.perf_counter() - wall) / len(lines) * 1e6)
    flagged = sum(not lint(text).ok or bool(lint(text).flags) for text in lines)
    print(
        f"{len(lines)} lines, {flagged} with a flag: CPU best {min(means):.1f} µs/line, "
        f"median {statistics.median(means):.1f} µs/line over {args.repeats} repeats "
        f"(wall best {min(walls):.1f})"
    )
    if args.profile_out:
        profiler = cProfile.Profile()
        profiler.enable()
        for text in lines:
            lint(text)
        profiler.disable()
        profiler.dump_stats(args.profile_out)


if __name__ == "__main__":
    main()
