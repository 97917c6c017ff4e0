"""Large corpora for benchmarks, made by perturbing the real approved replies."""

from __future__ import annotations

import random

from classifiers import Reply

_PREFIXES = ["", "请问", "老板", "亲", "你好", "客服", "那个", "就是"]
_SUFFIXES = ["", "呀", "呢", "啊", "哈", "嘛", "吧", "哦"]
_OPENERS = ["亲，", "亲爱的，", "您好，", "亲亲，", "宝宝，"]
_CLOSERS = ["", "～", "哦～", "，谢谢您的支持！", "，祝您购物愉快！", "，有问题随时找我～"]


def perturbed_corpus(replies: list[Reply], size: int, seed: int = 7) -> list[Reply]:
    """``size`` replies: the originals, then variants with reworded openers, endings and triggers."""
    rng = random.Random(seed)
    corpus = list(replies[:size])
    n = 0
    while len(corpus) < size:
        base = replies[n % len(replies)]
        n += 1
        body = base.text.removeprefix("亲，")
        text = rng.choice(_OPENERS) + body.rstrip("。！") + rng.choice(_CLOSERS) + f"（{n}）"
        triggers = tuple(
            rng.choice(_PREFIXES) + (t if rng.random() < 0.7 else t[1:] or t) + rng.choice(_SUFFIXES)
            for t in base.triggers
        )
        corpus.append(
            Reply(
                id=f"{base.id}~{n}",
                intents=base.intents,
                text=text,
                triggers=triggers,
                tags=base.tags,
                slots=base.slots,
            )
        )
    return corpus
