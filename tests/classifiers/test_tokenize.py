import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from classifiers.corpus import load_replies
from classifiers.normalize import normalized_text
from tests.helpers import dev_messages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("便宜点能包邮吗", ["便宜点", "能", "包邮", "吗"]),
        ("我要退货七天无理由", ["七天无理由"]),
        ("有运费险吗", ["运费险"]),
        ("发顺丰可以吗", ["顺丰"]),
        ("拍下改价", ["拍下", "改价"]),
    ],
)
def test_ecommerce_words_stay_whole(engine, text, expected):
    tokens = engine.analyze(text).tokens
    for word in expected:
        assert word in tokens


def test_placeholders_are_one_token(engine):
    assert engine.analyze("[订单x]什么时候发货").tokens[0] == "<订单>"
    assert "<*>" in engine.analyze("原来送到***的").tokens


def test_traditional_input_tokenizes_like_simplified(engine):
    assert engine.analyze("什麼時候發貨").tokens == engine.analyze("什么时候发货").tokens


def test_punctuation_and_spaces_are_not_tokens(engine):
    tokens = engine.analyze("好的， 谢谢！！").tokens
    assert "谢谢" in tokens
    assert not {"，", ",", " ", "!", "！"} & set(tokens)


@pytest.fixture(scope="module")
def jieba_reference():
    """jieba itself with the same user dictionary: what the tokenizer must equal."""
    import jieba

    from classifiers.corpus import DICTIONARY_FILE

    reference = jieba.Tokenizer()
    with DICTIONARY_FILE.open("rb") as dictionary:  # given a path, jieba leaves the file open
        reference.load_userdict(dictionary)
    return reference


def _jieba_tokens(reference, text: str) -> list[str]:
    """jieba's own cut, keeping what ``Tokenizer._cut`` keeps."""
    return [w for w in reference.cut(text, HMM=False) if w.strip() and (w.isalnum() or len(w) > 1)]


def test_segmentation_equals_jiebas_on_real_messages(engine, jieba_reference):
    texts = [normalized_text(text) for text in dev_messages().values()]
    texts += [normalized_text(r.text) for r in load_replies()]
    texts += [normalized_text(t) for r in load_replies() for t in r.triggers]
    assert len(texts) > 500
    for text in texts:
        ours: list[str] = []
        engine.tokenizer._cut(text, ours)
        assert ours == _jieba_tokens(jieba_reference, text), text


@given(
    st.text(
        # Shop words, Latin runs and jieba's symbols, and characters that jieba-rs counts as
        # Chinese but jieba does not (CJK extension A, U+9FD6 and up, compatibility ideographs).
        alphabet=st.sampled_from(
            "发货快递退款优惠便宜包邮质量不错行了吗亲京东顺丰abcXY0129+#.-_%& ，!㐀㐁鿖鿿豈"
        ),
        max_size=30,
    )
)
@example("量量量0")  # a tie that jieba and jieba-rs break two ways (found by this test)
def test_segmentation_equals_jiebas_on_any_text(engine, jieba_reference, text):
    ours: list[str] = []
    engine.tokenizer._cut(text, ours)
    theirs = _jieba_tokens(jieba_reference, text)
    if ours != theirs:
        # An exact tie ("量量量0": 量 + 量量 or 量量 + 量) is decided by floating-point rounding,
        # which jieba and jieba-rs do in another order; any other difference is a real one.
        assert "".join(ours) == "".join(theirs)
        assert _log_probability(jieba_reference, ours) == pytest.approx(
            _log_probability(jieba_reference, theirs), abs=1e-9
        )


def _log_probability(reference, words: list[str]) -> float:
    """How likely jieba's dictionary finds a segmentation (jieba's own route score)."""
    log_total = math.log(reference.total)
    return sum(math.log(reference.FREQ.get(word) or 1) - log_total for word in words)


def test_an_exact_tie_is_either_way_but_nothing_else_is(jieba_reference):
    """The tie allowance above accepts the other half of a tie and refuses a worse cut."""
    reference = jieba_reference
    tie = (_log_probability(reference, ["量", "量量"]), _log_probability(reference, ["量量", "量"]))
    assert tie[0] == pytest.approx(tie[1], abs=1e-9)
    worse = _log_probability(reference, ["量", "量", "量"])
    assert worse != pytest.approx(tie[0], abs=1e-9)


def test_user_dictionary_words_stay_whole_with_or_without_a_frequency(tmp_path):
    from classifiers.tokenize import Tokenizer

    empty, dictionary = tmp_path / "empty.txt", tmp_path / "dictionary.txt"
    empty.write_text("", encoding="utf-8")
    dictionary.write_text("闪电退 3000 n\n秒发货仓\n\n", encoding="utf-8")
    assert Tokenizer(empty).tokenize("闪电退秒发货仓") != ["闪电退", "秒发货仓"]
    assert Tokenizer(dictionary).tokenize("闪电退秒发货仓") == ["闪电退", "秒发货仓"]


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path):
    from classifiers.tokenize import Tokenizer

    dictionary = tmp_path / "dictionary.txt"
    dictionary.write_text("\ufeff闪电退 3000 n\n", encoding="utf-8")
    assert Tokenizer(dictionary).tokenize("闪电退") == ["闪电退"]
