import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers.normalize import content_only, content_text, normalize, normalized_text


def test_full_width_and_case_fold():
    assert normalize("ＡＢＣ１２３，退貨").text == "abc123,退货"


def test_traditional_to_simplified():
    assert normalize("應該是吧，我也不清楚 退貨運費險").text == "应该是吧,我也不清楚 退货运费险"


def test_collapses_punctuation_and_whitespace():
    assert normalize("真的吗？？？  太好了！！！").text == "真的吗? 太好了!"
    assert normalize("可能吧~~~").text == "可能吧~"


def test_strips_emoji_and_sticker_codes():
    assert normalize("好的😊👍").text == "好的"
    assert normalize("怎么解决呢 #E-s64#E-s64").text == "怎么解决呢"
    assert normalize("😊😊").text == ""


def test_empty_input():
    assert normalize("").text == ""
    assert content_only(normalize("   ")).text == ""


def test_content_only_maps_back_to_original():
    original = "亲，可 能 吧~~~"
    content = content_only(normalize(original))
    assert content.text == "亲可能吧"
    start = content.text.index("可能吧")
    begin, end = content.to_original(start, start + 3)
    assert original[begin:end] == "可 能 吧"


def test_span_covers_collapsed_punctuation():
    normalized = normalize("吗？？？")
    assert normalized.text == "吗?"
    assert normalized.to_original(1, 2) == (1, 4)


@given(st.text(alphabet=st.sampled_from("可能吧應該是 ，！!~😊ＡＢabc１嗯\u3000[]"), max_size=40))
def test_offsets_always_point_into_original(text):
    normalized = normalize(text)
    assert len(normalized.spans) == len(normalized.text)
    starts = [start for start, _ in normalized.spans]
    assert starts == sorted(starts)
    for char, (start, end) in zip(normalized.text, normalized.spans, strict=True):
        assert 0 <= start < end <= len(text)
        piece = text[start:end]
        if char == " ":
            assert piece.isspace()
        else:
            # The original slice normalizes to exactly this character.
            assert normalize(piece).text == char


_PIECES = [
    *"可能吧應該是 ，！!!~~。.😊ＡＢabc１嗯\u3000\n\t[]#E-s64/:好⑴藉口哈",
    *"\u200b\u202e\u202c\u0336\u0301\u3164хԛνⓥ🅠🇶%％¥+_＿",
    "#E-s64",
    "/:rose",
    "  ",
    "聯絡",
    "支援",
    "隨身碟",
    "程序",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_fast_path_equals_the_mapped_one(text):
    # The hot path folds without building offsets; it must fold exactly like ``normalize``.
    normalized = normalize(text)
    assert normalized_text(text) == normalized.text
    assert content_text(normalized.text) == content_only(normalized).text


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("微\u200b信", "微信"),  # zero-width space
        ("微\u200d信\ufeff", "微信"),  # zero-width joiner, BOM
        ("\u202e加微信\u202c", "加微信"),  # bidi override and its end
        ("微\u0336信\u0336", "微信"),  # strike-through combining marks
        ("v\u3164x", "vx"),  # Hangul filler, an invisible letter
        ("v\u0445", "vx"),  # Cyrillic х
        ("\u051a\u051b", "qq"),  # Cyrillic qa
        ("\u03bd\u03c7", "vx"),  # Greek nu, chi
        ("ⓥⓧ", "vx"),  # circled letters (NFKC)
        ("🅠🆀🇶", "qqq"),  # enclosed capitals in the emoji block are letters, not pictures
        ("ＶＸ", "vx"),  # full-width
    ],
)
def test_evasion_folds(typed, folded):
    assert content_only(normalize(typed)).text == folded
    assert content_text(normalized_text(typed)) == folded


def test_taiwan_wording_folds_to_mainland_wording():
    assert normalize("請您聯絡商家，不支援").text == "请您联系商家,不支持"
    # A phrase that changes length keeps the offsets right: only its own run goes char by char.
    normalized = normalize("隨身碟 聯絡客服")
    assert len(normalized.spans) == len(normalized.text) and normalized.text.endswith("联系客服")
    # Simplified text is left alone: tw2sp would turn the mainland 程序 into 进程.
    assert normalize("小程序").text == "小程序"


def test_percent_is_content_and_symbols_are_marked():
    from classifiers.normalize import marked_only, marked_text

    assert content_text(normalized_text("100％正品")) == "100%正品"
    assert marked_text(normalized_text("¥ 99，包邮")) == "¥99包邮"
    marked = marked_only(normalize("价格 ¥99"))
    assert marked.text == "价格¥99"
    start, end = marked.to_original(2, 5)
    assert "价格 ¥99"[start:end] == "¥99"


def test_fast_path_equals_the_mapped_one_on_real_lines():
    import json

    from tests.helpers import SHARED

    paths = [SHARED / "dev_chats.jsonl", SHARED / "dev_seller_lines.jsonl"]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"development data not found: put shared/data/ beside the checkout ({paths[0]})")
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            assert normalized_text(text) == normalize(text).text, text
