"""Lint an agent's draft against the banned-phrasing rules.

Three kinds of rule (see ``scripts_corpus/lint_rules.yaml``):
- ``phrase``: literal phrases, for editors. Matched on the folded content (no spaces,
  punctuation, emoji; width, case, look-alikes and Traditional folded). A phrase that holds
  a symbol ("100%", "¥1") matches only where the draft has that symbol too.
- ``pattern``: regular expressions over the same folded content, for phrase families
  (可能 … 吧, an IM name near a number). ``not_before`` / ``not_after`` are expressions too:
  one that matches the text ending right before / starting right after a match (``.*`` lets it
  look as far as it likes) makes that match ordinary wording.
- ``single_character``: the whole draft is one character, repeated or not; its
  ``not_after`` lists such drafts that are still polite (谢谢).

A profile (strict, taobao, jd, pinduoduo) switches off what its platform allows (naming the
shop's own platform) and blocks what strict can only warn about (naming another platform:
strict cannot know which one is the shop's own); every rule not listed runs as written.
"""

from __future__ import annotations

import re
import re._constants as _c  # type: ignore[import-not-found]  # a parsed pattern, for its first characters
import re._parser as _parser  # type: ignore[import-not-found]
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from classifiers.normalize import (
    content_only,
    content_text,
    marked_only,
    marked_text,
    normalize,
    normalized_text,
)
from classifiers.types import LintFlag, LintProfile, LintResult, LintRule, Severity

PHRASE = "phrase"
PATTERN = "pattern"
SINGLE_CHARACTER = "single_character"
STRICT = "strict"
# A pattern this long is a mistake, not a rule (and would be slow to run on every draft).
MAX_PATTERN_CHARS = 4000
MAX_PHRASE_CHARS = 50
_FAMILY_RE = re.compile(r"\{[a-z_]+\}")
# How far before and after a match a pattern rule's exceptions are looked for.
CONTEXT_CHARS = 200


def _fold(phrase: str) -> str:
    return content_only(normalize(phrase)).text


def _fold_marked(phrase: str) -> str:
    return marked_only(normalize(phrase)).text


_MAX_CLASS = 256  # a character class wider than this ([一-龥]) says nothing about a draft


def _first_chars(items: list, nullable_ok: bool = False) -> tuple[set[str] | None, bool]:
    """(the characters a match of the parsed ``items`` can begin with, whether it can be empty);
    None when any character could begin it (".", a negated class)."""
    chars: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            return chars | {chr(av)}, False
        if op is _c.IN:
            if any(kind is not _c.LITERAL and kind is not _c.RANGE for kind, _ in av):
                return None, False
            for kind, value in av:
                if kind is _c.LITERAL:
                    chars.add(chr(value))
                elif value[1] - value[0] > _MAX_CLASS:
                    return None, False
                else:
                    chars.update(map(chr, range(value[0], value[1] + 1)))
            return chars, False
        if op in (_c.ASSERT, _c.ASSERT_NOT, _c.AT):
            continue  # zero-width: the match begins at what follows
        if op is _c.SUBPATTERN:
            inner, empty = _first_chars(list(av[3]))
        elif op is _c.BRANCH:
            inner, empty = set(), False
            for branch in av[1]:
                found, branch_empty = _first_chars(list(branch))
                if found is None:
                    return None, False
                inner |= found
                empty = empty or branch_empty
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            inner, empty = _first_chars(list(av[2]))
            empty = empty or av[0] == 0
        else:  # ".", a back-reference, a category: anything
            return None, False
        if inner is None:
            return None, False
        chars |= inner
        if not empty:
            return chars, False
    return chars, True


def first_characters(pattern: str) -> frozenset[str] | None:
    """The characters any match of ``pattern`` begins with, or None when that is not known.
    A draft with none of them cannot match: most rules are skipped after one set test."""
    try:
        chars, empty = _first_chars(list(_parser.parse(pattern)))
    except (re.error, RecursionError, TypeError, ValueError):
        return None
    return None if chars is None or empty else frozenset(chars)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: LintRule
    pattern: re.Pattern[str]
    marked: bool = False  # runs on the text that keeps symbols
    not_before: re.Pattern[str] | None = None  # pattern rules: anchored at the match's start
    # The not_before expressions that open with ".*": one match from the window's start says
    # what a search from every position would (the search was quadratic in the window).
    not_before_any: re.Pattern[str] | None = None
    not_after: re.Pattern[str] | None = None  # pattern rules: anchored at the match's end
    starts: frozenset[str] | None = None  # what a match begins with; None: unknown

    def may_match(self, chars: set[str]) -> bool:
        return self.starts is None or not self.starts.isdisjoint(chars)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        for match in self.pattern.finditer(text):
            start, end = match.span()
            if start == end:
                continue
            # The context is read within CONTEXT_CHARS of the match: a whole line or two, and
            # linear in the draft's length (a 2,000-character draft of repeats took seconds).
            window = max(0, start - CONTEXT_CHARS)
            if self.not_before_any is not None and self.not_before_any.match(text, window, start):
                continue
            if self.not_before is not None and self.not_before.search(text, window, start):
                continue
            if self.not_after is not None and self.not_after.match(text, end, end + CONTEXT_CHARS):
                continue
            yield start, end


def _opens_with_any(pattern: str) -> bool:
    """Whether every match of ``pattern`` may begin with ".*" (no top-level "|"): then it
    matches text ending at a point from some position exactly when it does from the first."""
    try:
        items = list(_parser.parse(pattern))
    except (re.error, RecursionError, TypeError, ValueError):
        return False
    if not items or items[0][0] not in (_c.MAX_REPEAT, _c.MIN_REPEAT):
        return False
    low, high, body = items[0][1]
    return low == 0 and high == _c.MAXREPEAT and list(body) == [(_c.ANY, None)]


def _phrase_regex(phrases: Iterable[str], not_before: Iterable[str], not_after: Iterable[str]) -> str:
    # Longest phrase first, so "全网最低" wins over a shorter phrase at the same place.
    alternatives = sorted({p for p in phrases if p}, key=len, reverse=True)
    behind = "".join(f"(?<!{re.escape(p)})" for p in not_before if p)
    ahead_options = "|".join(re.escape(p) for p in not_after if p)
    ahead = f"(?!{ahead_options})" if ahead_options else ""
    return behind + "(?:" + "|".join(map(re.escape, alternatives)) + ")" + ahead


def _compile(rule: LintRule) -> list[_Compiled]:
    return [_with_starts(c) for c in _compile_rule(rule)]


def _with_starts(compiled: _Compiled) -> _Compiled:
    """Record what a match begins with, and let the regex engine skip to those characters:
    a rule that opens with a look-behind or an optional prefix ("(?<!能)不能", "我?也?不清楚")
    is otherwise tried at every position of the draft (four times slower on real lines)."""
    starts = first_characters(compiled.pattern.pattern)
    if starts is None:
        return compiled
    head = "".join(re.escape(c) for c in sorted(starts))
    pattern = re.compile(f"(?=[{head}])(?:{compiled.pattern.pattern})", compiled.pattern.flags)
    return replace(compiled, pattern=pattern, starts=starts)


def _compile_rule(rule: LintRule) -> list[_Compiled]:
    if rule.kind == PATTERN:
        if not rule.phrases:
            raise ValueError(f"lint rule {rule.id!r} has no patterns")
        anywhere = "|".join(f"(?:{p})" for p in rule.not_before if _opens_with_any(p))
        before = "|".join(f"(?:{p})" for p in rule.not_before if not _opens_with_any(p))
        after = "|".join(f"(?:{p})" for p in rule.not_after)
        return [
            _Compiled(
                rule,
                re.compile("|".join(f"(?:{p})" for p in rule.phrases)),
                not_before=re.compile(f"(?:{before})\\Z") if before else None,
                not_before_any=re.compile(f"(?:{anywhere})\\Z") if anywhere else None,
                not_after=re.compile(after) if after else None,
            )
        ]
    compiled = []
    plain = [p for p in rule.phrases if _fold(p) and _fold_marked(p) == _fold(p)]
    # A phrase with a symbol in it is matched where the symbol is kept: "100%" is not "100".
    symbols = [p for p in rule.phrases if _fold(p) and _fold_marked(p) != _fold(p)]
    if plain:
        regex = _phrase_regex(map(_fold, plain), map(_fold, rule.not_before), map(_fold, rule.not_after))
        compiled.append(_Compiled(rule, re.compile(regex)))
    if symbols:
        regex = _phrase_regex(
            map(_fold_marked, symbols), map(_fold_marked, rule.not_before), map(_fold_marked, rule.not_after)
        )
        compiled.append(_Compiled(rule, re.compile(regex), marked=True))
    if not compiled:
        raise ValueError(f"lint rule {rule.id!r} has no phrases")
    return compiled


def _pattern_problems(field: str, pattern: str) -> list[str]:
    if len(pattern) > MAX_PATTERN_CHARS:
        return [f"{field}: a pattern may be at most {MAX_PATTERN_CHARS} characters"]
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return [f"{field} {pattern!r}: not a regular expression ({exc})"]
    problems = []
    if field == "phrases" and compiled.fullmatch(""):
        problems.append(f"{field} {pattern!r}: matches the empty text, so it would flag every draft")
    if _FAMILY_RE.search(pattern):
        problems.append(f"{field} {pattern!r}: a named family like {{im}} works only in lint_rules.yaml")
    parsed = _parser.parse(pattern)
    if _nested_repetition(parsed):
        problems.append(
            f"{field} {pattern!r}: a repeated group that itself repeats (like (好+)+) can take"
            " exponential time on a long draft and stall the linter; repeat the inner part once"
        )
    elif _ambiguous_repetition(parsed):
        problems.append(
            f"{field} {pattern!r}: a repeated choice that can split one text in two ways (like"
            " (a|a)* or (a|aa)*) can take exponential time on a long draft and stall the linter;"
            " drop the alternative the others already spell"
        )
    return problems


_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT)


def _nested_repetition(parsed: Iterable) -> bool:
    """Whether a repetition (max above 1) holds another one: the shape that backtracks
    exponentially in Python's regex engine. Overlapping alternatives under one repeat
    ((a|a)*) can too: ``_ambiguous_repetition``."""
    for op, av in parsed:
        if op in _REPEATS:
            low, high, sub = av
            if (high > 1 and _repeats(sub)) or _nested_repetition(sub):
                return True
        elif any(_nested_repetition(part) for part in _subpatterns(op, av)):
            return True
    return False


def _repeats(parsed: Iterable) -> bool:
    """Whether ``parsed`` holds a repetition that can match more than once."""
    for op, av in parsed:
        if op in _REPEATS and av[1] > 1:
            return True
        if any(_repeats(part) for part in _subpatterns(op, av)):
            return True
    return False


def _ambiguous_repetition(parsed: Iterable) -> bool:
    """Whether a repetition (max above 1) of plain text alternatives can split one text into
    iterations in two ways ((a|a)*, (a|aa)*): a failing match then tries every split ((a|a)*
    on 24 "a" took 3.7 s, doubling with each one). Exact for alternatives of plain text (the
    Sardinas–Patterson test); alternatives with classes or dots are not looked at."""
    for op, av in parsed:
        if op in _REPEATS and av[1] > 1:
            words = _plain_texts(list(av[2]))
            if words is not None and not _uniquely_decodable(words):
                return True
        if any(_ambiguous_repetition(part) for part in _subpatterns(op, av)):
            return True
    return False


def _plain_texts(items: list, limit: int = 256) -> list[str] | None:
    """Every text the parsed ``items`` match, one entry per way of matching it, when they are
    plain text and alternatives (Python's parser stores (ab|ac) as a(b|c)); else None."""
    texts = [""]
    for op, av in items:
        if op is _c.LITERAL:
            options = [chr(av)]
        elif op is _c.SUBPATTERN:
            found = _plain_texts(list(av[3]), limit)
            if found is None:
                return None
            options = found
        elif op is _c.BRANCH:
            options = []
            for alternative in av[1]:
                found = _plain_texts(list(alternative), limit)
                if found is None:
                    return None
                options.extend(found)
        else:
            return None
        texts = [text + option for text in texts for option in options]
        if len(texts) > limit:
            return None
    return texts


def _uniquely_decodable(words: list[str]) -> bool:
    """Whether no text is a sequence of ``words`` in two ways (Sardinas–Patterson)."""
    code = set(words)
    if len(code) < len(words) or "" in code:
        return False

    def rests(prefixes: set[str], texts: set[str]) -> set[str]:
        return {t[len(p) :] for p in prefixes for t in texts if t.startswith(p)}

    dangling = rests(code, code) - {""}
    seen: set[frozenset[str]] = set()
    while dangling and frozenset(dangling) not in seen:
        if "" in dangling or not dangling.isdisjoint(code):
            return False
        seen.add(frozenset(dangling))
        dangling = rests(code, dangling) | rests(dangling, code)
    return True


def _subpatterns(op: object, av: object) -> list:
    if op is _c.SUBPATTERN:
        return [av[-1]]  # type: ignore[index]
    if op is _c.BRANCH:
        return list(av[1])  # type: ignore[index]
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return [av[1]]  # type: ignore[index]
    if op is _c.ATOMIC_GROUP:
        return [av]
    if op in _REPEATS or op is _c.POSSESSIVE_REPEAT:
        return [av[2]]  # type: ignore[index]
    return []


def rule_problems(rule: LintRule) -> list[str]:
    """Why ``rule`` cannot work, or nothing. Checked before an editor's rule is stored:
    one broken rule would keep every worker's linter from building."""
    if rule.kind == SINGLE_CHARACTER:
        return ["a single_character rule has no phrases"] if rule.phrases else []
    if rule.kind == PATTERN:
        problems = [] if rule.phrases else ["a pattern rule needs at least one pattern in phrases"]
        for field in ("phrases", "not_before", "not_after"):
            for pattern in getattr(rule, field):
                problems.extend(_pattern_problems(field, pattern))
        if not problems:
            # Each expression is joined with the others of its field as the linter runs them:
            # a global flag like "(?i)" compiles alone but not there.
            try:
                _compile(rule)
            except (re.error, RecursionError, OverflowError, ValueError) as exc:
                problems.append(
                    f"the expressions do not compile together ({exc}); scope an inline flag: (?i:…)"
                )
        return problems
    if rule.kind != PHRASE:
        return [f"unknown kind {rule.kind!r}: phrase, pattern or single_character"]
    problems = [] if rule.phrases else ["a phrase rule needs at least one phrase"]
    for field in ("phrases", "not_before", "not_after"):
        empty = [p for p in getattr(rule, field) if not _fold(p)]
        if empty:
            problems.append(f"{field} {empty}: nothing is left to match once punctuation and emoji go")
        long = [p for p in getattr(rule, field) if len(p) > MAX_PHRASE_CHARS]
        if long:
            problems.append(
                f"{field}: a phrase may be at most {MAX_PHRASE_CHARS} characters (use kind: pattern)"
            )
    return problems


class Linter:
    """Compiles the rules once; ``lint`` then scans one draft.

    ``profiles`` maps a profile name to what it changes; ``strict`` (the default) changes nothing.
    """

    def __init__(self, rules: Iterable[LintRule], profiles: Mapping[str, LintProfile] | None = None) -> None:
        self._compiled: list[_Compiled] = []
        self._single_character_rules: list[LintRule] = []
        for rule in rules:
            if rule.kind == SINGLE_CHARACTER:
                self._single_character_rules.append(rule)
            else:
                self._compiled.extend(_compile(rule))
        self._profiles = dict(profiles or {})
        self._profiles.setdefault(STRICT, LintProfile())
        # Each profile's rules, compiled once: a rule it blocks runs as a blocking copy.
        self._by_profile = {
            name: _Active(
                [_raised(c, profile) for c in self._compiled if c.rule.id not in profile.switch_off],
                [r for r in self._single_character_rules if r.id not in profile.switch_off],
            )
            for name, profile in self._profiles.items()
        }

    @property
    def profiles(self) -> list[str]:
        return sorted(self._profiles)

    def _active(self, profile: str | None) -> _Active:
        try:
            return self._by_profile[profile or STRICT]
        except KeyError:
            raise ValueError(f"unknown lint profile {profile!r}: one of {', '.join(self.profiles)}") from None

    def lint(self, draft: str, profile: str | None = None) -> LintResult:
        """Flags in the order they appear; spans index the original ``draft``.

        Matching ignores spaces, punctuation, emoji, invisible characters, full-width forms,
        look-alike letters and Traditional characters, so "可 能 吧~~~" and "應該是吧" are caught.
        """
        active = self._active(profile)
        normalized = normalized_text(draft)
        text = content_text(normalized)
        if not text or not text.strip(text[0]):
            # One character, repeated or not: the single_character rules decide.
            return self._lint(draft, active, active.compiled)
        # Most drafts are clean: one search of every rule's pattern at once (in C) finds
        # none, and the rules, their exceptions and the spans are skipped. Otherwise only the
        # rules that match outside their exceptions ("不可以的话" is clean) are run again on the
        # text with its offsets.
        if active.gate is None or active.gate.search(text) is not None:
            candidates = active.content
        elif active.ungated:
            candidates = active.ungated
        elif not active.marked:
            return LintResult(ok=True, flags=[])
        else:
            candidates = []
        chars = set(text)
        hits = [c for c in candidates if c.may_match(chars) and next(c.spans(text), None)]
        if active.marked:
            marked = marked_text(normalized)
            hits.extend(c for c in active.marked if next(c.spans(marked), None))
        if not hits:
            return LintResult(ok=True, flags=[])
        return self._lint(draft, active, hits)

    def lint_exactly(self, draft: str, profile: str | None = None) -> LintResult:
        """``lint`` without the clean-draft shortcut: every rule runs, spans are mapped."""
        active = self._active(profile)
        return self._lint(draft, active, active.compiled)

    def _lint(self, draft: str, active: _Active, compiled: list[_Compiled]) -> LintResult:
        normalized = normalize(draft)
        content = content_only(normalized)
        flags: list[LintFlag] = []
        if len(set(content.text)) <= 1:
            # One character, repeated or not ("嗯", "嗯嗯", "？", "👍"): too curt to send.
            start, end = content.to_original(0, len(content.text)) if content.text else (0, len(draft))
            for rule, polite in active.single_character:
                # ``not_after`` of a single_character rule: whole drafts that are still polite.
                if content.text not in polite:
                    flags.append(_flag(rule, draft, start, end))
        marked = marked_only(normalized) if any(c.marked for c in compiled) else content
        chars = set(content.text)
        for rule_compiled in compiled:
            if not rule_compiled.marked and not rule_compiled.may_match(chars):
                continue
            scanned = marked if rule_compiled.marked else content
            for match_start, match_end in rule_compiled.spans(scanned.text):
                start, end = scanned.to_original(match_start, match_end)
                flags.append(_flag(rule_compiled.rule, draft, start, end))
        flags = _one_per_place(flags)
        flags.sort(key=lambda flag: (flag.start, flag.end))
        return LintResult(ok=not any(f.severity is Severity.BLOCK for f in flags), flags=flags)


class _Active:
    """One profile's rules, and a gate: every gated rule's pattern in one expression."""

    def __init__(self, compiled: list[_Compiled], single_character: list[LintRule]) -> None:
        self.compiled = compiled
        self.single_character = [(r, frozenset(_fold(p) for p in r.not_after)) for r in single_character]
        self.content = [c for c in compiled if not c.marked]
        self.marked = [c for c in compiled if c.marked]
        # A pattern with groups stays out: its back-references would point at another
        # rule's group once joined.
        gated = [c for c in self.content if c.pattern.groups == 0]
        self.ungated = [c for c in self.content if c.pattern.groups != 0]
        self.gate = _gate(gated)


def _gate(compiled: list[_Compiled]) -> re.Pattern[str] | None:
    if not compiled:
        return None
    joined = "|".join(f"(?:{c.pattern.pattern})" for c in compiled)
    starts = [c.starts for c in compiled]
    if all(s is not None for s in starts):
        head = "".join(re.escape(c) for c in sorted(frozenset().union(*starts)))  # type: ignore[arg-type]
        joined = f"(?=[{head}])(?:{joined})"
    try:
        return re.compile(joined)
    except (re.error, RecursionError, OverflowError):
        return None


def _raised(compiled: _Compiled, profile: LintProfile) -> _Compiled:
    if compiled.rule.id not in profile.block or compiled.rule.severity is Severity.BLOCK:
        return compiled
    return replace(compiled, rule=replace(compiled.rule, severity=Severity.BLOCK))


def _one_per_place(flags: list[LintFlag]) -> list[LintFlag]:
    """One flag per category and place: a phrase rule and a pattern rule that both catch
    "可能吧" show it once (the earlier, longer match)."""
    flags.sort(key=lambda flag: (flag.start, -flag.end))
    kept: list[LintFlag] = []
    reach: dict[str, int] = {}
    for flag in flags:
        if flag.start < reach.get(flag.category, -1):
            continue
        kept.append(flag)
        reach[flag.category] = max(flag.end, reach.get(flag.category, -1))
    return kept


def _flag(rule: LintRule, draft: str, start: int, end: int) -> LintFlag:
    return LintFlag(
        rule_id=rule.id,
        category=rule.category,
        severity=rule.severity,
        start=start,
        end=end,
        match=draft[start:end],
        suggestion=rule.suggestion,
    )
