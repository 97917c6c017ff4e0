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


_PIECES = [*"可能吧應該是 ，！!!~~。.😊ＡＢabc１嗯\u3000\n\t[]#E-s64/:好⑴藉口哈", "#E-s64", "/:rose", "  "]


@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_fast_path_equals_the_mapped_one(text):
    # The hot path folds without building offsets; it must fold exactly like ``normalize``.
    normalized = normalize(text)
    assert normalized_text(text) == normalized.text
    assert content_text(normalized.text) == content_only(normalized).text
