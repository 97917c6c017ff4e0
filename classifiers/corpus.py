"""Load the curated data in ``scripts_corpus/``: approved replies, lint rules, training examples."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import yaml

from classifiers.types import Intent, LintProfile, LintRule, Reply, Severity

CORPUS_DIR = Path(str(files("scripts_corpus")))
REPLIES_DIR = CORPUS_DIR / "replies"
LINT_RULES_FILE = CORPUS_DIR / "lint_rules.yaml"
DICTIONARY_FILE = CORPUS_DIR / "dictionary.txt"
TRAINING_DIR = CORPUS_DIR / "training"
TRAINING_FILE = TRAINING_DIR / "intents.jsonl"


class CorpusError(ValueError):
    """A corpus file is malformed; the message names the file and the entry."""


def reply_from_dict(entry: dict, default_intent: str | None = None) -> Reply:
    intents = entry.get("intents") or ([default_intent] if default_intent else [])
    try:
        return Reply(
            id=str(entry["id"]),
            intents=tuple(Intent(i) for i in intents),
            text=str(entry["text"]),
            triggers=tuple(str(t) for t in entry.get("triggers") or ()),
            tags=tuple(str(t) for t in entry.get("tags") or ()),
            slots={str(k): (None if v is None else str(v)) for k, v in (entry.get("slots") or {}).items()},
            shop_id=entry.get("shop_id"),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorpusError(f"reply {entry.get('id', '?')!r}: {exc}") from exc


def load_replies(directory: Path = REPLIES_DIR) -> list[Reply]:
    """All replies from the YAML files in ``directory``, in file and entry order."""
    replies: list[Reply] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in document.get("replies") or ():
            reply = reply_from_dict(entry, document.get("intent"))
            if reply.id in seen:
                raise CorpusError(f"{path.name}: duplicate reply id {reply.id!r}")
            seen.add(reply.id)
            replies.append(reply)
    return replies


def rule_from_dict(entry: dict) -> LintRule:
    try:
        return LintRule(
            id=str(entry["id"]),
            category=str(entry["category"]),
            severity=Severity(entry["severity"]),
            suggestion=str(entry["suggestion"]),
            phrases=tuple(str(p) for p in entry.get("phrases") or ()),
            not_before=tuple(str(p) for p in entry.get("not_before") or ()),
            not_after=tuple(str(p) for p in entry.get("not_after") or ()),
            kind=str(entry.get("kind", "phrase")),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorpusError(f"lint rule {entry.get('id', '?')!r}: {exc}") from exc


_FAMILY_RE = re.compile(r"\{([a-z_]+)\}")


def _families(document: dict) -> dict[str, str]:
    """The file's named pattern families, each with the families it names expanded."""
    families: dict[str, str] = {}
    for name, pattern in (document.get("families") or {}).items():
        families[str(name)] = _expand(str(pattern), families, f"family {name!r}")
    return families


def _expand(pattern: str, families: dict[str, str], where: str) -> str:
    def family(match: re.Match[str]) -> str:
        if match.group(1) not in families:
            raise CorpusError(f"{LINT_RULES_FILE.name}: {where} names unknown family {{{match.group(1)}}}")
        return f"(?:{families[match.group(1)]})"

    return _FAMILY_RE.sub(family, pattern)


def load_lint_rules(path: Path = LINT_RULES_FILE) -> list[LintRule]:
    """The rules, each ``{family}`` in a pattern rule replaced by the family's expression
    (the database stores them expanded: an editor sees the expression that runs)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    families = _families(document)
    rules = []
    for entry in document.get("rules") or ():
        if entry.get("kind") == "pattern":
            entry = dict(entry)
            for field in ("phrases", "not_before", "not_after"):
                where = f"rule {entry.get('id', '?')!r}"
                entry[field] = [_expand(str(p), families, where) for p in entry.get(field) or ()]
        rules.append(rule_from_dict(entry))
    return rules


def load_lint_profiles(path: Path = LINT_RULES_FILE) -> dict[str, LintProfile]:
    """Profile name → what it changes (``strict``, the default, changes nothing)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    profiles = {"strict": LintProfile()}
    for name, entry in (document.get("profiles") or {}).items():
        entry = entry or {}
        profiles[str(name)] = LintProfile(
            switch_off=frozenset(str(rule_id) for rule_id in entry.get("switch_off") or ()),
            block=frozenset(str(rule_id) for rule_id in entry.get("block") or ()),
        )
    return profiles


def read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def training_examples(directory: Path = TRAINING_DIR) -> list[tuple[str, tuple[Intent, ...]]]:
    """(text, intents) pairs from every ``*.jsonl`` file in ``directory``, in name order.

    Reply triggers are not read here: the corpus grows in the editor and from other branches,
    and the committed model must stay what these files train (the reply triggers it learnt
    from are copied in ``reply_triggers.jsonl``).
    """
    return [example for path in sorted(directory.glob("*.jsonl")) for example in training_examples_from(path)]


def training_examples_from(path: Path) -> list[tuple[str, tuple[Intent, ...]]]:
    """(text, intents) pairs of one JSON Lines file of ``{text, intents}`` rows."""
    examples = []
    for row in read_jsonl(path):
        try:
            examples.append((str(row["text"]), tuple(Intent(i) for i in row["intents"])))
        except (KeyError, ValueError, TypeError) as exc:
            raise CorpusError(f"{path.name}: training row {row!r}: {exc}") from exc
    return examples
