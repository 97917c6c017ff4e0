"""A corpus change is patched into a serving index in place of a rebuild: what changed is
answered at once, what left is never suggested again, and nothing else moves."""

import dataclasses

import pytest

from classifiers import Intent, Reply
from classifiers.corpus import load_replies
from tests.helpers import SHOP_7_REPLY

# Every reply's own triggers, plus plain buyer questions: every reply is reachable.
MESSAGES = sorted(
    {trigger for reply in load_replies() for trigger in reply.triggers}
    | {"能便宜点吗", "什么时候发货", "我想退货", "再考虑一下", "你好在吗"}
)


@pytest.fixture(scope="module")
def exact(engine):
    return engine.with_corpus(replies=load_replies())


def _patched(engine, exact, changes):
    analysed = {
        reply_id: None if reply is None else (reply, engine.analyze_reply(reply))
        for reply_id, reply in changes.items()
    }
    return engine.with_corpus(replies=(), index=exact.index.patched(analysed))


def _answers(engine, **options):
    return {text: engine.suggest(text, k=5, **options)[1] for text in MESSAGES}


def test_an_empty_patch_changes_no_answer(engine, exact):
    assert _answers(_patched(engine, exact, {})) == _answers(exact)


def test_changed_removed_and_added_replies(engine, exact):
    replies = {reply.id: reply for reply in load_replies()}
    changed = dataclasses.replace(replies["refund-progress"], text="亲，退款进度我这边帮您盯着哦")
    added = Reply(
        id="two-items-gift",
        intents=(Intent.BARGAINING,),
        text="亲，两件一起拍我帮您申请多送一份小赠品哦～",
        triggers=("两件一起拍能不能多送一个赠品",),
    )
    removed = "ship-delivery-days"
    patched = _patched(engine, exact, {changed.id: changed, added.id: added, removed: None})
    assert patched.index.size == exact.index.size  # one in, one out

    answers = _answers(patched)
    current = {**replies, changed.id: changed, added.id: added}
    del current[removed]
    for suggestions in answers.values():
        for suggestion in suggestions:
            # Only replies of the corpus as it is now, with their current text.
            assert suggestion.reply_id in current
            assert suggestion.text.startswith(current[suggestion.reply_id].text.split("{")[0])
    assert patched.suggest("两件一起拍能不能多送一个赠品")[1][0].reply_id == "two-items-gift"
    assert any(s.reply_id == changed.id for s in patched.suggest("退款什么时候到账", k=5)[1])
    assert not any(s.reply_id == removed for s in patched.suggest("几天能到", k=5)[1])
    assert any(s.reply_id == removed for s in exact.suggest("几天能到", k=5)[1])


def test_a_reply_patched_twice_answers_with_its_last_version(engine, exact):
    original = next(reply for reply in load_replies() if reply.id == "refund-progress")
    first = dataclasses.replace(original, text="第一版：退款进度我帮您查")
    second = dataclasses.replace(original, text="第二版：退款进度我帮您查")
    once = exact.index.patched({first.id: (first, engine.analyze_reply(first))})
    twice = once.patched({second.id: (second, engine.analyze_reply(second))})
    patched = engine.with_corpus(replies=(), index=twice)
    texts = [s.text for text in MESSAGES for s in patched.suggest(text, k=5)[1]]
    assert "第二版：退款进度我帮您查" in texts
    assert "第一版：退款进度我帮您查" not in texts and original.text not in texts
    assert twice.size == once.size == exact.index.size
    # The index it was made from still answers as before: the patch made a copy.
    assert "第一版：退款进度我帮您查" in [
        s.text for t in MESSAGES for s in engine.with_corpus(replies=(), index=once).suggest(t, k=5)[1]
    ]


def test_a_patched_SHOP_7_REPLY_stays_in_its_shop(engine, exact):
    patched = _patched(engine, exact, {SHOP_7_REPLY.id: SHOP_7_REPLY})
    assert "shop-7-only" in [s.reply_id for s in patched.suggest("今天发货吗", k=5, shop_id="shop-7")[1]]
    assert "shop-7-only" not in [s.reply_id for s in patched.suggest("今天发货吗", k=5)[1]]
    # Moved out of every shop's corpus: no shop sees it.
    gone = engine.with_corpus(replies=(), index=patched.index.patched({"shop-7-only": None}))
    assert "shop-7-only" not in [s.reply_id for s in gone.suggest("今天发货吗", k=5, shop_id="shop-7")[1]]


def test_a_patched_index_saved_and_loaded_answers_the_same(engine, exact, tmp_path):
    from classifiers.index import ReplyIndex

    patched = _patched(engine, exact, {"ship-delivery-days": None})
    patched.index.save(tmp_path / "index.pickle")
    loaded = engine.with_corpus(replies=(), index=ReplyIndex.load(tmp_path / "index.pickle"))
    assert loaded.index.size == patched.index.size == exact.index.size - 1
    assert _answers(loaded) == _answers(patched)
    # Patched again after loading: the removed reply is not found (and counted) a second time.
    again = loaded.index.patched({"ship-delivery-days": None})
    assert again.size == loaded.index.size


def test_an_id_inside_another_id_is_told_apart(engine, exact):
    # "ship-change-address" is the start of "ship-change-address-shipped".
    patched = _patched(engine, exact, {"ship-change-address": None})
    assert patched.index.size == exact.index.size - 1
    texts = {s.reply_id for text in MESSAGES for s in patched.suggest(text, k=5)[1]}
    assert "ship-change-address-shipped" in texts and "ship-change-address" not in texts


def test_strings_find_the_last_whole_item():
    from classifiers.index import _Strings

    strings = _Strings(["ab", "b", "abb", "b", "a"])
    assert strings.rindex("b") == 3 and strings.rindex("ab") == 0 and strings.rindex("abb") == 2
    assert strings.rindex("a") == 4 and strings.rindex("ba") is None and strings.rindex("") is None
    longer = strings.plus(["c", "b"]).plus(["ab"])
    assert [longer[i] for i in range(len(longer))] == ["ab", "b", "abb", "b", "a", "c", "b", "ab"]
    assert longer.rindex("b") == 6 and longer.rindex("ab") == 7 and longer.rindex("abb") == 2
    assert longer.rindex("x") is None
