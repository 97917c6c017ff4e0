"""Tokenize normalized text with jieba and the e-commerce user dictionary."""

from __future__ import annotations

import array
import logging
import math
import os
import re
from pathlib import Path

import jieba

jieba.setLogLevel(logging.WARNING)

# Masking placeholders in real chat logs ("[订单x]", "[数字x]", "***", which normalization
# folds to "*") and stickers ("[玫瑰]")
# become one token each, so they neither split into noise nor vanish.
_PLACEHOLDER_RE = re.compile(r"\[([^\[\]\s]{1,6}?)x?\]|\*+")
# jieba's own block pattern: runs it segments with the dictionary; the rest is split by character.
_HAN_RE = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%\\-]+)")
_LATIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


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
        self._log_probability = _LogProbabilities(self._jieba)

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
        """jieba's ``cut(text, HMM=False)``, word for word, without its generators.

        HMM is off: it triples the cost and character n-grams already cover unknown words.
        Written out because tokenizing was a fifth of a suggestion's cost; a test holds it
        equal to jieba's own.
        """
        for block in _HAN_RE.split(text):
            if not block:
                continue
            if _HAN_RE.match(block):
                self._cut_block(block, tokens)
            else:
                # Outside Chinese/Latin runs jieba yields single characters: keep letters and digits.
                tokens.extend(char for char in block if char.isalnum())

    def _cut_block(self, block: str, tokens: list[str]) -> None:
        # The most probable path through the words of the dictionary (jieba's DAG + route,
        # fused into one right-to-left pass): best[k] scores block[k:], ends[k] ends its first word.
        frequencies = self._jieba.FREQ
        log_probability = self._log_probability
        unknown = -math.log(self._jieba.total)
        size = len(block)
        best = [0.0] * (size + 1)
        ends = [0] * (size + 1)
        for start in range(size - 1, -1, -1):
            score, end = None, start + 1
            stop = start + 1
            fragment = block[start]
            while fragment in frequencies:  # every prefix of a word is in FREQ
                if frequencies[fragment]:
                    candidate = log_probability[fragment] + best[stop]
                    if score is None or candidate >= score:  # jieba's max() keeps the longer on ties
                        score, end = candidate, stop
                stop += 1
                if stop > size:
                    break
                fragment = block[start:stop]
            if score is None:
                score = unknown + best[start + 1]
            best[start], ends[start] = score, end
        # Runs of single Latin letters or digits are joined, as jieba does.
        letters = ""
        start = 0
        while start < size:
            end = ends[start]
            word = block[start:end]
            start = end
            if len(word) == 1 and word in _LATIN:
                letters += word
                continue
            if letters:
                tokens.append(letters)
                letters = ""
            if len(word) > 1 or word.isalnum():
                tokens.append(word)
        if letters:
            tokens.append(letters)


class _LogProbabilities(dict):
    """log(frequency / total) of each word, computed on first use (as jieba computes it)."""

    def __init__(self, tokenizer: jieba.Tokenizer) -> None:
        super().__init__()
        self._tokenizer = tokenizer

    def __missing__(self, word: str) -> float:
        value = math.log(self._tokenizer.FREQ[word]) - math.log(self._tokenizer.total)
        self[word] = value
        return value


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
