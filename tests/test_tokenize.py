import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers.corpus import load_replies
from classifiers.normalize import normalized_text
from tests.conftest import dev_messages


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


def test_cache_file_written_to_configured_folder(tmp_path):
    from classifiers.corpus import DICTIONARY_FILE
    from classifiers.tokenize import Tokenizer

    Tokenizer(DICTIONARY_FILE, tmp_path)
    assert any(path.name.endswith(".cache") for path in tmp_path.iterdir())


def test_prefix_dictionary_cache_matches_jieba(tmp_path):
    import jieba

    from classifiers import corpus
    from classifiers.tokenize import Tokenizer

    reference = jieba.Tokenizer()
    reference.tmp_dir = str(tmp_path / "jieba-own")
    reference.initialize()
    reference.load_userdict(str(corpus.DICTIONARY_FILE))
    built = Tokenizer(corpus.DICTIONARY_FILE, tmp_path)  # builds and writes our cache
    assert list(tmp_path.glob("jieba-prefix-*.words"))
    loaded = Tokenizer(corpus.DICTIONARY_FILE, tmp_path)  # reads it
    for tokenizer in (built, loaded):
        assert tokenizer._jieba.FREQ == reference.FREQ and tokenizer._jieba.total == reference.total
    # A damaged cache is rebuilt, not trusted.
    for path in tmp_path.glob("jieba-prefix-*.counts"):
        path.write_bytes(path.read_bytes()[:80])
    assert Tokenizer(corpus.DICTIONARY_FILE, tmp_path)._jieba.FREQ == reference.FREQ


def _jieba_tokens(tokenizer, text: str) -> list[str]:
    """What ``Tokenizer._cut`` replaces: jieba's own cut, filtered the same way."""
    return [w for w in tokenizer._jieba.cut(text, HMM=False) if w.strip() and (w.isalnum() or len(w) > 1)]


def test_segmentation_equals_jiebas_on_real_messages(engine):
    texts = [normalized_text(text) for text in dev_messages().values()]
    texts += [normalized_text(r.text) for r in load_replies()]
    assert len(texts) > 200
    for text in texts:
        ours: list[str] = []
        engine.tokenizer._cut(text, ours)
        assert ours == _jieba_tokens(engine.tokenizer, text), text


@given(
    st.text(
        alphabet=st.sampled_from("发货快递退款优惠便宜包邮质量不错行了吗亲京东顺丰abcXY0129+#.-_%& ，!"),
        max_size=30,
    )
)
def test_segmentation_equals_jiebas_on_any_text(engine, text):
    ours: list[str] = []
    engine.tokenizer._cut(text, ours)
    assert ours == _jieba_tokens(engine.tokenizer, text)
