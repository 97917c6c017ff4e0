"""Tokenize normalized text with jieba and the e-commerce user dictionary."""

from __future__ import annotations

import logging
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

    Build it once per process: jieba's prefix dictionary takes most of a second to build
    and is cached in ``cache_dir``; the user dictionary is applied on top.
    """

    def __init__(self, user_dictionary: Path, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._jieba = jieba.Tokenizer()
        self._jieba.tmp_dir = str(cache_dir)
        self._jieba.initialize()
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
