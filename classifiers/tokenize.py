"""Tokenize normalized text with jieba and the e-commerce user dictionary."""

from __future__ import annotations

import array
import logging
import os
import re
from pathlib import Path

import jieba

jieba.setLogLevel(logging.WARNING)

# Masking placeholders in real chat logs ("[订单x]", "[数字x]", "***", which normalization
# folds to "*") and stickers ("[玫瑰]")
# become one token each, so they neither split into noise nor vanish.
_PLACEHOLDER_RE = re.compile(r"\[([^\[\]\s]{1,6}?)x?\]|\*+")
_SKIP = frozenset(" \t")


class Tokenizer:
    """A private jieba tokenizer (never jieba's global one) with the user dictionary.

    Build it once per process. jieba's prefix dictionary (half a million entries) is
    cached in ``cache_dir``; the user dictionary is applied on top.
    """

    def __init__(self, user_dictionary: Path, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._jieba = jieba.Tokenizer()
        self._jieba.tmp_dir = str(cache_dir)
        _load_prefix_dictionary(self._jieba, cache_dir)
        self._jieba.load_userdict(str(user_dictionary))

    def tokenize(self, text: str) -> list[str]:
        """Split normalized ``text`` into words; punctuation and spaces are dropped."""
        tokens: list[str] = []
        position = 0
        for match in _PLACEHOLDER_RE.finditer(text):
            self._cut(text[position : match.start()], tokens)
            tokens.append(f"<{match.group(1) or '*'}>")
            position = match.end()
        self._cut(text[position:], tokens)
        return tokens

    def _cut(self, text: str, tokens: list[str]) -> None:
        if not text:
            return
        # HMM off: it triples the cost and character n-grams already cover unknown words.
        for word in self._jieba.cut(text, HMM=False):
            if word not in _SKIP and (word.isalnum() or len(word) > 1):
                tokens.append(word)


def _load_prefix_dictionary(tokenizer: jieba.Tokenizer, cache_dir: Path) -> None:
    """Load jieba's prefix dictionary from our cache, or build it and write the cache.

    jieba's own cache is a marshalled dict that takes ~0.9 s to load; the same entries kept
    as one text of words plus an int64 array load in ~0.2 s, which is most of a cold start.
    """
    source = Path(jieba.__file__).with_name("dict.txt")
    stamp = f"{jieba.__version__}-{source.stat().st_size}-{int(source.stat().st_mtime)}"
    words_file = cache_dir / f"jieba-prefix-{stamp}.words"
    counts_file = cache_dir / f"jieba-prefix-{stamp}.counts"
    if words_file.exists() and counts_file.exists():
        counts = array.array("q")
        counts.frombytes(counts_file.read_bytes())
        words = words_file.read_text(encoding="utf-8").split("\n")
        if len(words) + 1 == len(counts):  # the last count is jieba's total
            tokenizer.FREQ = dict(zip(words, counts))
            tokenizer.total = counts[-1]
            tokenizer.initialized = True
            return
    tokenizer.initialize()
    counts = array.array("q", tokenizer.FREQ.values())
    counts.append(tokenizer.total)
    # Written under temporary names and renamed, so workers starting together never read half a file.
    for path, data in (
        (counts_file, counts.tobytes()),
        (words_file, "\n".join(tokenizer.FREQ).encode("utf-8")),
    ):
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
