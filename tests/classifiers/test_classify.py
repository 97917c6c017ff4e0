import json

import opencc
import pytest

from classifiers import Intent
from classifiers.corpus import read_jsonl
from classifiers.evaluate import report
from tests.helpers import ROOT, dev_messages

LABELS = ["bargaining", "hesitation", "logistics", "refund", "other"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("老板能不能再少二十", Intent.BARGAINING),
        ("有什么优惠活动吗", Intent.BARGAINING),
        ("别家卖得比你便宜", Intent.BARGAINING),
        ("还是有点犹豫，再看看", Intent.HESITATION),
        ("想买又怕不好用，我再考虑下", Intent.HESITATION),
        ("这个是不是正品啊", Intent.HESITATION),
        ("我165cm穿M还是L", Intent.HESITATION),
        ("快递到哪了一直没更新", Intent.LOGISTICS),
        ("今天下单明天能发出吗", Intent.LOGISTICS),
        ("寄到杭州几天能到", Intent.LOGISTICS),
        ("收到的碗碎了两个", Intent.REFUND),
        ("我要退货退款", Intent.REFUND),
        ("漏发了一双袜子", Intent.LOGISTICS),  # a missing item is a parcel question
        ("买了才三天就降价了，能价保吗", Intent.REFUND),  # price protection is a refund flow
        ("两件包邮吗", Intent.BARGAINING),  # shipping fees before purchase
        ("发票抬头能改成公司吗", Intent.OTHER),
        ("安装师傅什么时候上门", Intent.OTHER),
        ("好的 没问题了 谢谢", Intent.OTHER),
        ("在吗", Intent.OTHER),
        ("这个多大尺寸", Intent.OTHER),
    ],
)
def test_intents(engine, text, intent):
    assert engine.classify(text).intent is intent


def test_two_intents_are_both_returned(engine):
    result = engine.classify("便宜点能包邮吗，什么时候发货")
    intents = [s.intent for s in result.intents]
    assert result.intent is intents[0]
    assert {Intent.BARGAINING, Intent.LOGISTICS} <= set(intents)


def test_traditional_input(engine):
    assert engine.classify("我要退貨，東西壞了").intent is Intent.REFUND
    assert engine.classify("什麼時候發貨").intent is Intent.LOGISTICS


def test_placeholders_and_typos(engine):
    assert engine.classify("[订单x]这个单子什么时候发货").intent is Intent.LOGISTICS
    assert engine.classify("我要腿货").intent is Intent.REFUND


@pytest.mark.parametrize("text", ["", "   ", "😊😊😊", "？？？", "#E-s64"])
def test_empty_and_emoji_only_abstain(engine, text):
    result = engine.classify(text)
    assert result.intent is Intent.OTHER
    assert result.confidence == 0.0  # nothing to be sure of either way
    assert result.intents == []


def test_very_long_input(engine):
    result = engine.classify("什么时候发货" * 2000)
    assert result.intent is Intent.LOGISTICS


def test_abstains_below_threshold(engine):
    result = engine.classify("嗯")
    assert result.intent is Intent.OTHER
    assert result.confidence >= 1 - engine.model.threshold


def test_follow_up_uses_previous_message(engine):
    # Alone, "那多少呢" could be anything; after a bargaining or a logistics message it is that.
    assert engine.classify("那多少呢").intent is Intent.OTHER
    assert engine.classify("那多少呢", previous=engine.scores("能便宜点吗")).intent is Intent.BARGAINING
    assert engine.classify("那怎么办呢", previous=engine.scores("快递三天没动了")).intent is Intent.LOGISTICS
    # A confident message keeps its own intent, and a closing "thanks" is no follow-up question.
    assert engine.classify("什么时候发货", previous=engine.scores("能便宜点吗")).intent is Intent.LOGISTICS
    assert engine.classify("好的谢谢", previous=engine.scores("能便宜点吗")).intent is Intent.OTHER


def test_follow_ups_take_the_previous_messages_intent(engine):
    refund = engine.scores("我要退款")
    for text in ["要怎么撤回呢", "还有一单呢", "那这个呢"]:
        assert engine.classify(text).intent is Intent.OTHER, text  # alone it says nothing
        assert engine.classify(text, previous=refund).intent is Intent.REFUND, text
    for text in ["好的谢谢", "没别的了 再见 祝你开心", "没有啦 多谢你哦", "嗯嗯"]:
        assert engine.classify(text, previous=refund).intent is Intent.OTHER, text
    # But thanks with a question in it is a follow-up.
    logistics = engine.scores("快递到哪了")
    assert engine.classify("好的谢谢 那还要几天呢", previous=logistics).intent is Intent.LOGISTICS


def test_dev_set_macro_f1_floor(engine):
    """Regression floor on the labelled real messages (target 0.85; see the eval command)."""
    texts = dev_messages()
    rows = list(read_jsonl(ROOT / "eval" / "dev_labels.jsonl"))
    predicted = [str(engine.classify(texts[row["id"]]).intent) for row in rows]
    result = report([row["label"] for row in rows], predicted, LABELS)
    # The floor guards the shipped model: 0.822 since the 61836eb model was kept back (its
    # successor's 0.844 came with a held-out loss; BENCHMARKS.md, intents, acceptance).
    assert result.macro_f1 >= 0.82, json.dumps(result.to_dict())


def test_dev_set_in_traditional_characters(engine):
    """The same messages converted with OpenCC s2twp: accuracy must barely move."""
    texts = dev_messages()
    to_traditional = opencc.OpenCC("s2twp")
    rows = list(read_jsonl(ROOT / "eval" / "dev_labels.jsonl"))
    simplified = [str(engine.classify(texts[r["id"]]).intent) for r in rows]
    traditional = [str(engine.classify(to_traditional.convert(texts[r["id"]])).intent) for r in rows]
    agreement = sum(a == b for a, b in zip(simplified, traditional)) / len(rows)
    assert agreement >= 0.95


def test_scores_equal_the_plain_tfidf_formula(engine):
    # The scorer is written for speed; this is the model written as trained: sublinear-tf
    # TF-IDF over ``features``, l2-normalized, one logistic regression per intent.
    import math

    from classifiers.intent import MODEL_FILE, features

    model = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    for text in list(dev_messages().values())[:120]:
        analysis = engine.analyze(text)
        vector = {
            name: (1 + math.log(count)) * model["weights"][name][0]
            for name, count in features(analysis.tokens, analysis.content).items()
            if name in model["weights"]
        }
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        expected = [
            1
            / (
                1
                + math.exp(
                    -(intercept + sum(v / norm * model["weights"][n][j + 1] for n, v in vector.items()))
                )
            )
            for j, intercept in enumerate(model["intercepts"])
        ]
        assert engine.model.scores(analysis.tokens, analysis.content) == pytest.approx(expected, abs=1e-9)


def _session(engine, texts):
    """Each message's intent, fed in order with what the conversation remembers (as
    ``app.context`` keeps it between messages)."""
    remembered, intents = None, []
    for text in texts:
        result = engine.classify(text, previous=remembered)
        kept = engine.remembered(result)
        remembered = remembered if kept is None else kept
        intents.append(result.intent)
    return intents


def test_hesitation_needs_its_own_surer_bar(engine):
    from classifiers.intent import INTENT_BARS

    model, bar = engine.model, INTENT_BARS[Intent.HESITATION]
    assert bar > model.threshold
    # Between the common bar and its own, hesitation is no intent at all, primary or secondary.
    under = model.decide(["再"], [0.1, bar - 0.01, 0.0, 0.0])
    assert under.intent is Intent.OTHER and not under.intents
    assert under.confidence == round(1 - (bar - 0.01), 4)  # not sure it is none of them
    assert model.decide(["再"], [0.1, bar, 0.0, 0.0]).intent is Intent.HESITATION
    mixed = model.decide(["再"], [0.9, bar - 0.01, 0.0, 0.0])
    assert [s.intent for s in mixed.intents] == [Intent.BARGAINING]
    # Under its bar it does not make a message confident: a follow-up still leans on context.
    assert model.leans_on_context(["那", "呢"], [0.0, bar - 0.01, 0.0, 0.0])
    # Goodbyes are not hesitation (再会 reads like 再看看 to character n-grams).
    assert engine.classify("再会").intent is Intent.OTHER


def test_session_memory_keeps_the_last_confident_intent():
    from classifiers.engine import Engine

    memory = Engine.load(replies=[], rules=[], context="memory")
    before = Engine.load(replies=[], rules=[])  # the follow-up rule: the previous message only
    # "好的" gets no intent: the memory keeps the refund, so the follow-up after it is refund;
    # with only the previous message remembered it is lost.
    turns = ["我要退款", "好的", "要怎么撤回呢"]
    assert _session(memory, turns)[-1] is Intent.REFUND
    assert _session(before, turns)[-1] is Intent.OTHER
    # A message that gets no intent is not remembered; one that does replaces the memory.
    assert memory.remembered(memory.classify("好的")) is None
    assert _session(memory, ["我要退款", "什么时候发货", "好的", "那这个呢"])[-1] is Intent.LOGISTICS
    # Confident messages keep their own intent; a conversation with nothing remembered is as before.
    assert _session(memory, ["我要退款", "好的", "什么时候发货"])[-1] is Intent.LOGISTICS
    assert _session(memory, ["要怎么撤回呢"]) == [Intent.OTHER]


def test_context_rules_gate_which_messages_lean():
    from classifiers.engine import Engine
    from classifiers.intent import CONTEXT_RULES

    unclear = Engine.load(replies=[], rules=[], context="unclear")
    analysis = unclear.analyze("好的")  # no follow-up word, not confident
    scores = unclear.intent_scores(analysis)
    assert unclear.needs_context(analysis, scores)
    follow_up = Engine.load(replies=[], rules=[])
    assert not follow_up.needs_context(analysis, scores)
    assert unclear.model.context_weight == CONTEXT_RULES["unclear"].weight
    assert unclear.remembered(unclear.classify("好的")) is not None  # the previous message, whatever it is
    confident = follow_up.analyze("我要退款")
    assert not unclear.needs_context(confident, unclear.intent_scores(confident))


def test_unknown_context_rule_is_refused():
    from classifiers.intent import IntentModel

    with pytest.raises(ValueError, match="context rule 'sometimes': one of follow-up, memory, unclear"):
        IntentModel.load(context="sometimes")
