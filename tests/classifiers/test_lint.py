import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers import Severity
from classifiers.corpus import read_jsonl
from tests.helpers import ROOT

CASES = list(read_jsonl(ROOT / "eval" / "lint_cases.jsonl"))
BLOCKING = {"uncertain", "curt", "off_platform", "absolute_claim", "rude", "review_incentive"}


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
        "已经发出就改不了地址了，您可以到货时跟快递员商量",
        "订单一旦取消就无法找回，确定要取消吗",
        "预计明天送达，时效没法保证，以物流为准",
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


def _rule(**fields):
    from classifiers import LintRule

    return LintRule(
        **{"id": "r", "category": "custom", "severity": Severity.BLOCK, "suggestion": "s", **fields}
    )


@pytest.mark.parametrize(
    ("draft", "flagged"),
    [
        ("满100减10", False),
        ("这件100元", False),
        ("100%好评", True),
        ("１００％好评", True),
        ("100 % 好评", True),
    ],
)
def test_a_phrase_with_a_symbol_needs_the_symbol(draft, flagged):
    from classifiers.lint import Linter

    result = Linter([_rule(phrases=("100%",))]).lint(draft)
    assert bool(result.flags) is flagged
    if flagged:
        flag = result.flags[0]
        assert draft[flag.start : flag.end] == flag.match and "%" in flag.match or "％" in flag.match


def test_an_editors_pattern_rule_with_exceptions():
    from classifiers.lint import Linter

    linter = Linter([_rule(kind="pattern", phrases=("不归我们(?:管|负责)",), not_before=("如果.*",))])
    assert [f.match for f in linter.lint("亲，这个不 归 我们管").flags] == ["不 归 我们管"]
    assert linter.lint("如果真的不归我们管，我也会帮您转达").flags == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "pattern", "phrases": ("(unclosed",)}, "not a regular expression"),
        ({"kind": "pattern", "phrases": ("x*",)}, "empty text"),
        ({"kind": "pattern", "phrases": ("加{im}",)}, "lint_rules.yaml"),
        ({"kind": "pattern", "phrases": ()}, "at least one pattern"),
        ({"kind": "pattern", "phrases": ("a",), "not_after": ("(",)}, "not_after"),
        ({"kind": "nonsense", "phrases": ("a",)}, "unknown kind"),
        ({"kind": "pattern", "phrases": ("(?i)vx",)}, "compile together"),
        ({"kind": "pattern", "phrases": ("(好+)+差",)}, "exponential time"),
        ({"kind": "pattern", "phrases": ("差(?:[好棒]*赞)*",)}, "exponential time"),
        ({"kind": "pattern", "phrases": ("a",), "not_before": ("(?:如果.*)+",)}, "exponential time"),
        # a repeated choice that splits one text two ways: (a|a)*, and 一下 = 一 + 下
        ({"kind": "pattern", "phrases": ("(a|a)*b",)}, "split one text in two ways"),
        ({"kind": "pattern", "phrases": ("请(?:一下|下|一)+",)}, "split one text in two ways"),
        ({"kind": "pattern", "phrases": ("a",), "not_after": ("(?:x(?:好|好))+",)}, "split one text"),
    ],
)
def test_broken_pattern_rules_are_refused(fields, problem):
    from classifiers.lint import rule_problems

    problems = rule_problems(_rule(**fields))
    assert problems and any(problem in p for p in problems)


def test_repetition_that_repeats_once_is_allowed_and_shipped_rules_have_none():
    """The nested-repetition refusal keeps a careless editor's rule from stalling a worker
    ((好+)+差 on 24 好 took 3.7 s, doubling with each one) but lets ordinary patterns through."""
    import re._parser as parser  # type: ignore[import-not-found]

    from classifiers.corpus import load_lint_rules
    from classifiers.lint import _ambiguous_repetition, _nested_repetition, rule_problems

    for pattern in (
        "(?:不能|没法)+为您",
        "不.{0,6}(?:能|行)",
        "(?:可能|也许).{0,8}吧",
        "a{2,5}(?:b|c)+",
        "(?:好的|好)+吧",  # 好的 never splits as 好 + 的 here: 的 is no alternative
        "(?:这边|这里|帮您)*处理",
    ):
        assert rule_problems(_rule(kind="pattern", phrases=(pattern,))) == [], pattern
    shipped = [
        pattern
        for rule in load_lint_rules()
        if rule.kind == "pattern"
        for pattern in (*rule.phrases, *rule.not_before, *rule.not_after)
    ]
    assert shipped and not [p for p in shipped if _nested_repetition(parser.parse(p))]
    assert not [p for p in shipped if _ambiguous_repetition(parser.parse(p))]


def test_profiles(engine):
    draft = "亲，感谢您对京东的支持"
    strict = engine.lint(draft)
    assert [(f.rule_id, f.severity) for f in strict.flags] == [("platform-jd", Severity.WARN)] and strict.ok
    assert engine.lint(draft, "jd").flags == []
    for other in ("taobao", "pinduoduo"):
        result = engine.lint(draft, other)
        assert not result.ok and result.flags[0].severity is Severity.BLOCK
    assert not engine.lint("去淘宝搜同款", "jd").ok and engine.lint("去淘宝搜同款", "taobao").ok
    # What every platform forbids stays blocked in every profile.
    for profile in (None, "strict", "taobao", "jd", "pinduoduo"):
        assert not engine.lint("好评返现5元", profile).ok
        assert not engine.lint("加我微信", profile).ok
        assert not engine.lint("去抖音搜我们店", profile).ok
    with pytest.raises(ValueError, match="unknown lint profile"):
        engine.lint(draft, "amazon")


def test_an_unknown_family_is_named(tmp_path):
    from classifiers.corpus import CorpusError, load_lint_rules

    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {id: r, category: c, severity: block, suggestion: s,\n"
        "     kind: pattern, phrases: ['加{nope}']}\n",
        encoding="utf-8",
    )
    with pytest.raises(CorpusError, match="nope"):
        load_lint_rules(path)


def test_pattern_words_survive_folding(engine):
    # Patterns are not folded like phrases: each word in them must already be what folding
    # makes of it (Simplified, lower-case), or the pattern could never match.
    import re

    from classifiers.normalize import normalize

    for rule in engine.rules:
        if rule.kind != "pattern":
            continue
        for pattern in (*rule.phrases, *rule.not_before, *rule.not_after):
            for word in re.findall(r"[\u4e00-\u9fffA-Za-z]+", re.sub(r"\\.|\(\?[:<!=]+", "", pattern)):
                assert normalize(word).text == word, (rule.id, word)


def test_first_characters():
    from classifiers.lint import first_characters

    assert first_characters("(?:我们?|小妹)?不(?:清楚|知道)") == frozenset("我小不")
    assert first_characters("(?<![0-9])1[3-9]") == frozenset("1")
    assert first_characters(".*可以") is None
    assert first_characters("x?") is None  # can match nothing: no first character


_FAMILY_PIECES = [
    *"可能吧也许估计好像不清楚知道确定我也您如果加微信vxq扣扣号联系商家厂家自己不能无法可以帮您最好的第一时间绝对100%棉京东淘宝",
    "吧",
    "订单",
    "13812345678",
    "公众号",
    "一旦取消",
    "感谢您的支持",
    "\u200b",
    "🌹",
    " ",
    "，",
]


@given(st.lists(st.sampled_from(_FAMILY_PIECES), max_size=14).map("".join))
def test_first_character_skips_never_hide_a_flag(engine, draft):
    for profile in (None, "jd"):
        assert engine.linter.lint(draft, profile) == engine.linter.lint_exactly(draft, profile)


def test_the_gate_keeps_every_flag_on_real_seller_lines(engine):
    # The one-search gate and the per-rule skips decide nothing: on every real seller line
    # (and each profile) the fast path says exactly what running every rule says.
    import json

    from tests.helpers import SHARED

    paths = [SHARED / "dev_chats.jsonl", SHARED / "dev_seller_lines.jsonl"]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"development data not found: put shared/data/ beside the checkout ({paths[0]})")
    texts = {
        row["text"]
        for path in paths
        for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        if row.get("role", "seller") == "seller"
    }
    for profile in ("strict", "jd", "taobao"):
        assert [engine.linter.lint(t, profile) for t in texts] == [
            engine.linter.lint_exactly(t, profile) for t in texts
        ]


def test_a_rule_with_groups_runs_outside_the_gate():
    from classifiers.lint import Linter

    # A back-reference would point at another rule's group inside the joined gate.
    linter = Linter([_rule(kind="pattern", phrases=(r"(好)\1{3}",)), _rule(id="s", phrases=("加微信",))])
    assert [f.match for f in linter.lint("好好好好的").flags] == ["好好好好"]
    assert linter.lint("好好的").flags == []
    assert [f.match for f in linter.lint("亲，加 微 信").flags] == ["加 微 信"]


def test_the_gate_lets_the_regex_engine_skip_ahead():
    from classifiers.lint import Linter

    linter = Linter([_rule(kind="pattern", phrases=("(?<!能)不能(?!吗)",))])
    (compiled,) = linter._active(None).compiled
    # What a match begins with leads the expression, so the engine jumps to those characters.
    assert compiled.pattern.pattern.startswith("(?=[不])")
    assert [f.match for f in linter.lint("这个不能").flags] == ["不能"]
    assert linter.lint("能不能").flags == [] and linter.lint("不能吗").flags == []


# Floors on the three constructed sets (our own writing, labelled blind; BENCHMARKS.md, "Lint
# rounds 4 and 5"): c is what round 4 was tuned on, d and f were measured after it. Set at the
# measured figures, so a rule change that loses what they catch, or starts flagging their clean
# lines, fails here even where ../shared/data is absent.
@pytest.mark.parametrize(
    ("name", "block_recall", "warn_recall", "false_alarms"),
    [
        ("constructed_lint.jsonl", 0.98, 0.98, 1),
        ("constructed_lint_test.jsonl", 0.79, 0.79, 2),
        ("constructed_lint_f.jsonl", 0.90, 0.73, 3),
    ],
)
def test_constructed_set_floors(engine, name, block_recall, warn_recall, false_alarms):
    from classifiers import evaluate

    rows = list(read_jsonl(ROOT / "eval" / name))
    severities = evaluate.category_severities([(str(r.category), str(r.severity)) for r in engine.rules])
    raised = [[(f.category, str(f.severity)) for f in engine.lint(row["text"], "jd").flags] for row in rows]
    report = evaluate.lint_chat_report([row["flags"] for row in rows], raised, severities)
    assert report["block"]["precision"] >= 0.98
    assert report["block"]["recall"] >= block_recall
    assert report["warn"]["recall"] >= warn_recall
    assert report["clean"]["false_alarms"] <= false_alarms and report["clean"]["lines"] >= 80
