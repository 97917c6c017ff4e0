import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers import Severity
from classifiers.corpus import read_jsonl
from tests.helpers import ROOT

CASES = list(read_jsonl(ROOT / "eval" / "lint_cases.jsonl"))
BLOCKING = {"uncertain", "curt", "off_platform", "absolute_claim"}


@pytest.mark.parametrize("case", CASES, ids=[c["text"] for c in CASES])
def test_lint_cases(engine, case):
    result = engine.lint(case["text"])
    categories = {flag.category for flag in result.flags}
    if case["banned"]:
        assert case["category"] in categories
        flag = next(f for f in result.flags if f.category == case["category"])
        # The span points at the offending words in the draft as typed.
        assert case["text"][flag.start : flag.end] == flag.match == case["match"]
        assert flag.suggestion and flag.suggestion != flag.match
        # A blocking flag makes the draft not ok; a warning alone leaves it sendable.
        blocking = any(f.severity is Severity.BLOCK for f in result.flags)
        assert result.ok is not blocking
        assert (flag.severity is Severity.BLOCK) is (case["category"] in BLOCKING)
    else:
        assert result.flags == []
        assert result.ok


@pytest.mark.parametrize(
    ("draft", "match"),
    [
        ("亲，可 能 吧~~~", "可 能 吧"),
        ("應該是吧！！", "應該是吧"),
        ("明天会到的，可能吧", "可能吧"),
        ("ＯＫ，我也不清楚", "我也不清楚"),
        ("亲，可、能、吧", "可、能、吧"),
    ],
)
def test_span_points_into_original(engine, draft, match):
    flag = engine.lint(draft).flags[0]
    assert draft[flag.start : flag.end] == match == flag.match
    assert flag.severity is Severity.BLOCK
    assert flag.suggestion


def test_curt_span_is_the_content(engine):
    flag = engine.lint("  嗯嗯！ ").flags[0]
    assert flag.category == "curt"
    assert (flag.start, flag.end, flag.match) == (2, 4, "嗯嗯")


def test_warn_does_not_block(engine):
    result = engine.lint("亲，这个价格确实没办法再改了")
    assert [f.category for f in result.flags] == ["refusal"]
    assert result.ok


@pytest.mark.parametrize(
    "draft",
    [
        "亲，这个价格确实没办法再改了，不过可以送您一个小礼品",
        "发货了就不能修改地址了，您可以到货时与配送员协商",
        "订单一旦取消是无法恢复的，确认取消吗",
        "预计明天送达，具体时效无法保证，以物流为准",
    ],
)
def test_a_no_with_a_way_forward_is_clean(engine, draft):
    assert engine.lint(draft).flags == []


def test_several_flags_in_order(engine):
    result = engine.lint("应该是吧，你自己看详情，加我微信")
    assert [f.category for f in result.flags] == ["uncertain", "questioning", "off_platform"]
    assert not result.ok


@pytest.mark.parametrize("draft", ["", "😊", "。。。"])
def test_empty_or_noise_only_draft_is_curt(engine, draft):
    result = engine.lint(draft)
    assert not result.ok
    assert result.flags[0].category == "curt"
    assert 0 <= result.flags[0].start <= result.flags[0].end <= len(draft)


def test_very_long_draft(engine):
    draft = "亲，马上为您安排发货哦。" * 1000 + "可能吧"
    flags = engine.lint(draft).flags
    assert len(flags) == 1
    assert draft[flags[0].start : flags[0].end] == "可能吧"


def test_rules_are_data(engine):
    from classifiers import LintRule
    from classifiers.lint import Linter

    linter = Linter(
        [LintRule(id="x", category="custom", severity=Severity.WARN, suggestion="s", phrases=("親愛的",))]
    )
    result = linter.lint("亲爱的顾客")
    assert [(f.category, f.start, f.end) for f in result.flags] == [("custom", 0, 3)]


_DRAFT_PIECES = [*"可能吧應該是我也不清楚不行可以的话嗯哦亲，！ ~😊", "全网最低", "你确定", "不可以的话"]


@given(st.lists(st.sampled_from(_DRAFT_PIECES), max_size=12).map("".join))
def test_clean_draft_shortcut_never_hides_a_flag(engine, draft):
    assert engine.linter.lint(draft) == engine.linter.lint_exactly(draft)
