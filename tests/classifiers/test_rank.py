import pytest

from classifiers import Intent, Reply
from classifiers.corpus import load_replies, read_jsonl
from classifiers.rank import fill_slots
from tests.helpers import ROOT, SHOP_7_REPLY


def test_suggestions_follow_intent(engine):
    result, suggestions = engine.suggest("能不能便宜点", k=3)
    assert result.intent is Intent.BARGAINING
    assert len(suggestions) == 3
    assert all(s.intent is Intent.BARGAINING for s in suggestions)
    assert [s.score for s in suggestions] == sorted((s.score for s in suggestions), reverse=True)


def test_two_intents_give_replies_for_both(engine):
    _, suggestions = engine.suggest("便宜点能包邮吗", k=4)
    assert {Intent.BARGAINING, Intent.LOGISTICS} <= {s.intent for s in suggestions}


def test_slots_filled_from_context(engine):
    _, suggestions = engine.suggest("发什么快递", k=5, context={"courier": "顺丰"})
    reply = next(s for s in suggestions if s.reply_id == "ship-default-courier")
    assert "顺丰" in reply.text and reply.missing_slots == []


def test_missing_slot_is_reported(engine):
    _, suggestions = engine.suggest("发什么快递", k=5)
    reply = next(s for s in suggestions if s.reply_id == "ship-default-courier")
    assert reply.missing_slots == ["courier"] and "{courier}" in reply.text


def test_slot_default_used():
    assert fill_slots("{days}天到", {"days": "2-4"}) == ("2-4天到", [])
    assert fill_slots("{a}{b}", {"a": "1", "b": None}) == ("1{b}", ["b"])


def test_near_duplicates_removed(engine):
    base = load_replies()
    copies = [
        Reply(
            id=f"dup-{i}",
            intents=(Intent.BARGAINING,),
            text="亲，这个价格已经很优惠了哦" + "！" * i,
            triggers=("能便宜点吗",),
        )
        for i in range(5)
    ]
    other = engine.with_corpus(replies=[*copies, *base])
    _, suggestions = other.suggest("能便宜点吗", k=3)
    assert sum(s.reply_id.startswith("dup-") for s in suggestions) == 1


def test_shop_scope(engine):
    scoped = engine.with_corpus(replies=[SHOP_7_REPLY, *load_replies()])
    ids_for_shop = [s.reply_id for s in scoped.suggest("今天发货吗", k=5, shop_id="shop-7")[1]]
    ids_global = [s.reply_id for s in scoped.suggest("今天发货吗", k=5)[1]]
    assert "shop-7-only" in ids_for_shop
    assert "shop-7-only" not in ids_global


def test_feedback_boost_lifts_a_reply(engine):
    _, plain = engine.suggest("什么时候发货", k=3)
    last = plain[-1]
    _, boosted = engine.suggest("什么时候发货", k=3, boosts={(last.reply_id, "logistics"): 0.5})
    lifted = next(s for s in boosted if s.reply_id == last.reply_id)
    assert lifted.score == round(last.score + 0.1, 4)  # the boost is capped at 0.1
    assert boosted.index(lifted) < len(plain) - 1


def test_other_messages_get_general_replies(engine):
    result, suggestions = engine.suggest("在吗")
    assert result.intent is Intent.OTHER
    assert suggestions[0].reply_id == "other-greeting"


@pytest.mark.parametrize("text", ["😊", "", "！！！", "   "])
def test_a_message_without_words_gets_only_general_replies(engine, text):
    """Nothing to match: no intent is guessed, and the replies offered are general ones,
    each scored 0 (the classifier has no confidence and no trigger resembles the message)."""
    result, suggestions = engine.suggest(text)
    assert result.intent is Intent.OTHER and result.tokens == [] and result.confidence == 0.0
    assert len(suggestions) == 3
    assert all(s.intent is Intent.OTHER and s.score == 0.0 for s in suggestions)


def test_ranking_eval_floor(engine):
    rows = list(read_jsonl(ROOT / "eval" / "rank_cases.jsonl"))
    hits = sum(
        any(s.reply_id in row["relevant"] for s in engine.suggest(row["text"], k=3)[1]) for row in rows
    )
    assert hits / len(rows) >= 0.85


def test_index_from_stored_analyses_ranks_the_same(engine):
    import orjson

    from classifiers.index import ReplyAnalysis

    replies = load_replies()
    stored = {
        reply.id: ReplyAnalysis.from_json(orjson.loads(orjson.dumps(engine.analyze_reply(reply).to_json())))
        for reply in replies
    }
    assert stored[replies[0].id] == engine.analyze_reply(replies[0])
    rebuilt = engine.with_corpus(replies, analyses=stored)
    for text in ("能便宜点吗", "什么时候发货", "我想退货", "再考虑一下", "你好在吗"):
        assert rebuilt.suggest(text, k=5) == engine.suggest(text, k=5)
