"""No tracked file quotes real buyer/seller text: docs, comments, code, tests, corpus, training.

A run of Chinese characters (with ，？！、) is a quote when it occurs verbatim in a line of
shared/data. Docs and comments are prose about real chats, so they are held to seven
characters; strings in code, corpus, training and fixtures are our own service wording, which
shares everyday seven-character phrases with real chats (when will it arrive, seven-day
no-reason returns), so they are held to ten.
The label files in eval/ hold ids and labels only and are left out; eval/ sets of our own
writing (lint_cases, constructed_lint) hold text and are checked.
"""

import json
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from tests.classifiers.test_training import REAL_FILES
from tests.helpers import ROOT, SHARED

PROSE_N = 7  # *.md and comments
CODE_N = 10  # everything else
CJK_RUN = re.compile(r"[\u4e00-\u9fff,?!、]+")  # after NFKC, ，？！ are , ? !
PROSE_SUFFIXES = {".md", ".txt"}
HASH_COMMENTS = {".py", ".yaml", ".yml", ".toml", ".sh", ".ini", ".cfg"}
SLASH_COMMENTS = {".js", ".mjs", ".ts", ".css"}
# Our own wording that real chats happen to use too; each may appear anywhere.
ALLOWED = {
    "便宜点能包邮吗，什么时候发货": "our demo message since the first README; 什么时候发货 is everyday",
    "您好，请问有什么可以帮您": "the stock greeting of every shop, in our corpus and extension fixtures",
    "请问有什么可以帮您的呢": "the same stock greeting with a particle",
    "很高兴为您服务，请问有什么可以帮您": "the stock greeting of a human agent, our corpus wording",
    "支持七天无理由退换货": "the platform's policy name, said in those words by everyone",
    "我们会尽快为您处理的": "a stock promise in our corpus replies",
    "请您保持手机畅通哦": "a stock courtesy line in our corpus replies",
    "感谢您对京东的支持": "the platform's stock sign-off, used as a clean reply in tests",
    "您好，很高兴为您服务": "the stock greeting of a human agent, a clean lint case",
    "为您服务是我们的荣幸": "a stock courtesy answer to thanks, a clean lint case",
    "您的满意是我们最大的动力": "the set phrase the lint guide names as clean (最 in a set phrase)",
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _allowed_removed(text: str) -> str:
    for phrase in ALLOWED:
        text = text.replace(_fold(phrase), "|")
    return text


def _real_ngrams(sizes: tuple[int, ...]) -> dict[int, set[str]]:
    paths = [SHARED / name for name in REAL_FILES]
    if not any(path.exists() for path in paths):
        pytest.skip(f"real chat data not found: put shared/data/ beside the checkout ({SHARED})")
    grams: dict[int, set[str]] = {n: set() for n in sizes}
    for path in paths:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    for run in CJK_RUN.findall(_fold(json.loads(line)["text"])):
                        for n in sizes:
                            grams[n].update(run[i : i + n] for i in range(len(run) - n + 1))
    return grams


def quotes(text: str, n: int, grams: set[str]) -> list[str]:
    """The stretches of ``text`` made of n-character runs that occur verbatim in a real line."""
    found = []
    for matched in CJK_RUN.findall(_allowed_removed(_fold(text))):
        run = matched.strip(",?!、")  # a list's separator in prose is not part of the quote
        end = -1
        for i in range(len(run) - n + 1):
            if run[i : i + n] in grams:
                if i <= end:  # overlaps the previous hit: one stretch
                    found[-1] += run[end : i + n]
                else:
                    found.append(run[i : i + n])
                end = i + n
    return found


def _comments(path: Path, text: str) -> str:
    if path.suffix in HASH_COMMENTS:
        marker = "#"
    elif path.suffix in SLASH_COMMENTS:
        marker = "//"
    elif path.suffix == ".html":
        marker = "<!--"
    else:
        return ""
    return "\n".join(line.split(marker, 1)[1] for line in text.splitlines() if marker in line)


def _tracked_texts() -> list[tuple[Path, str]]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    texts = []
    for name in listed.stdout.decode().split("\0"):
        path = Path(name)
        if not name:
            continue
        try:
            text = (ROOT / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):  # binary, or deleted but not yet staged
            continue
        # Label files join real text by id; our own sets (lint_cases, constructed_lint) hold text.
        if path.parts[0] == "eval" and path.suffix == ".jsonl" and '"text"' not in text:
            continue
        texts.append((path, text))
    return texts


def _found_in(path: Path, text: str, grams: dict[int, set[str]]) -> list[str]:
    if path.suffix in PROSE_SUFFIXES:
        return quotes(text, PROSE_N, grams[PROSE_N])
    return quotes(_comments(path, text), PROSE_N, grams[PROSE_N]) + quotes(text, CODE_N, grams[CODE_N])


def test_no_tracked_file_quotes_a_real_line():
    grams = _real_ngrams((PROSE_N, CODE_N))
    texts = _tracked_texts()
    assert len(texts) > 100  # the whole checkout is read
    found = {str(path): hits for path, text in texts if (hits := _found_in(path, text, grams))}
    assert not found, f"verbatim runs of real lines (paraphrase them): {found}"


def test_the_check_catches_a_planted_quote():
    """A real line pasted into a doc, a comment or a string is flagged; the allow-list is not."""
    grams = _real_ngrams((PROSE_N, CODE_N))
    chats = SHARED / "dev_chats.jsonl"
    if not chats.exists():
        pytest.skip(f"real chat data not found: put shared/data/ beside the checkout ({chats})")
    real = chats.read_text(encoding="utf-8").splitlines()
    line = next(t for t in (json.loads(r)["text"] for r in real if r.strip()) if len(t) >= 12 and t.isalpha())
    assert _found_in(Path("NOTES.md"), f"e.g. ({line}) is clean", grams)
    assert _found_in(Path("x.py"), f"x = 1  # as in {line}\n", grams)
    assert _found_in(Path("x.yaml"), f"text: 亲，{line}\n", grams)
    assert _found_in(Path("x.js"), f"// {line[:PROSE_N]}\n", grams)
    assert not _found_in(Path("x.py"), f'x = "{line[:PROSE_N]}"\n', grams)  # short, in code: everyday
    assert not _found_in(Path("NOTES.md"), "".join(ALLOWED), grams)
