"""The ``huashu`` command: JSON Lines tools over the language core, and the service's chores."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from app.schemas import classification_body, lint_body, suggestions_body
from classifiers.intent import CONTEXT_RULES, DEFAULT_CONTEXT
from classifiers.types import SCORED_INTENTS, Intent

INTENT_LABELS = [str(i) for i in (*SCORED_INTENTS, Intent.OTHER)]
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"  # the real development data, beside the checkout
DEFAULT_TEXTS = DEFAULT_DATA / "dev_buyer_messages.jsonl"
CHAT_INTENT_LABELS = ROOT / "eval" / "chat_intent_labels.jsonl"
CHAT_LINT_LABELS = ROOT / "eval" / "chat_lint_labels.jsonl"
CHAT_RANK_PAIRS = ROOT / "eval" / "chat_rank_pairs.jsonl"


def _engine():
    from classifiers import default_engine

    return default_engine()


def _write(out: TextIO, obj: dict) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()


def _records(stream: TextIO, out: TextIO) -> Iterator[tuple[dict, str]]:
    """Each input line as (record, text); a bad line gets an error object and the run goes on."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _write(out, {"line": number, "error": {"code": "invalid_json", "message": str(exc)}})
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            _write(
                out,
                {
                    "line": number,
                    "id": record.get("id") if isinstance(record, dict) else None,
                    "error": {"code": "missing_text", "message": "each line needs a string field 'text'"},
                },
            )
            continue
        yield record, record["text"]


def cmd_classify(args, stdin: TextIO, out: TextIO) -> int:
    engine = _engine()
    for record, text in _records(stdin, out):
        _write(out, {"id": record.get("id"), **classification_body(engine.classify(text))})
    return 0


def cmd_suggest(args, stdin: TextIO, out: TextIO) -> int:
    engine = _engine()
    for record, text in _records(stdin, out):
        context = record.get("context") or {}
        if not isinstance(context, dict):
            _write(
                out,
                {
                    "id": record.get("id"),
                    "error": {"code": "invalid_context", "message": "context must be an object"},
                },
            )
            continue
        result, suggestions = engine.suggest(
            text, k=args.k, context={str(k): str(v) for k, v in context.items()}
        )
        body = classification_body(result)
        del body["tokens"]
        _write(out, {"id": record.get("id"), **body, "suggestions": suggestions_body(suggestions)})
    return 0


def cmd_lint(args, stdin: TextIO, out: TextIO) -> int:
    engine = _engine()
    for record, text in _records(stdin, out):
        _write(out, {"id": record.get("id"), **lint_body(engine.lint(text))})
    return 0


def _labelled_rows(path: Path, texts_path: Path | None) -> list[dict]:
    """Rows of ``path``; rows holding only an id take their text from ``texts_path``."""
    from classifiers.corpus import read_jsonl

    rows = list(read_jsonl(path))
    if any("text" not in row for row in rows):
        source = texts_path or DEFAULT_TEXTS
        if not source.exists():
            raise SystemExit(f"{path} has rows without text; pass --texts FILE (looked for {source})")
        texts = {row["id"]: row["text"] for row in read_jsonl(source)}
        rows = [{**row, "text": row.get("text", texts.get(row["id"]))} for row in rows]
        missing = [row["id"] for row in rows if row["text"] is None]
        if missing:
            raise SystemExit(f"no text for ids {missing[:5]} in {source}")
    return rows


class EvalError(Exception):
    """The labels or the texts they need cannot be read; the message says what to do."""


def _read_jsonl_file(path: Path) -> list[dict]:
    from classifiers.corpus import read_jsonl

    try:
        return list(read_jsonl(path))
    except json.JSONDecodeError as exc:
        raise EvalError(f"{path}: not JSON Lines ({exc})") from exc


def _chat_data(data: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Texts by id from ``data`` (dev_chats + dev_seller_lines), and each session's buyer
    message ids in order (the conversation the service sees)."""
    chats = data / "dev_chats.jsonl"
    if not chats.is_file():
        raise EvalError(
            f"the chat labels hold ids only, and their texts are not here: {chats} not found. "
            "Put the development data (shared/data/) beside the checkout or pass --data DIR."
        )
    texts: dict[str, str] = {}
    sessions: dict[str, list[str]] = {}
    for row in _read_jsonl_file(chats):
        texts[row["id"]] = row["text"]
        if row.get("role") == "buyer":
            sessions.setdefault(row["session"], []).append(row["id"])
    answers = data / "dev_seller_lines.jsonl"
    if answers.is_file():
        texts.update((row["id"], row["text"]) for row in _read_jsonl_file(answers))
    return texts, sessions


def _engine_for(context: str, model_path: str | None = None):
    """The default engine, under the intent model's ``context`` rule (and another trained
    model, ``huashu train --output``, when ``model_path`` names one)."""
    engine = _engine()
    if context == engine.model.context and model_path is None:
        return engine
    from classifiers.engine import Engine
    from classifiers.intent import MODEL_FILE, IntentModel

    # A new engine, not the cached default's model changed under its other users.
    try:
        model = IntentModel.load(Path(model_path) if model_path else MODEL_FILE, context=context)
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"huashu: cannot load the intent model {model_path}: {exc!r}") from exc
    return Engine(engine.tokenizer, model, [], engine.rules, index=engine.index, profiles=engine.profiles)


def _session_memory(engine, sessions, texts, wanted: set[str], convert=str) -> dict:
    """What the service remembers before each wanted buyer message: the session's buyer
    messages fed in order, each classified with what the ones before left remembered."""
    before: dict[str, list[float] | None] = {}
    for ids in sessions.values():
        if wanted.isdisjoint(ids):
            continue
        remembered = None
        for message_id in ids:
            before[message_id] = remembered
            kept = engine.remembered(engine.classify(convert(texts[message_id]), remembered))
            remembered = remembered if kept is None else kept
    return before


def _classify_sessions(engine, sessions, texts, wanted: set[str], convert, context: bool) -> dict:
    """Each wanted buyer message's classification, the session's buyer messages fed in order as
    the service sees them: each message gets the last one's remembered scores (its intents at or
    above the secondary cut, as ``app.context`` remembers them, under the model's context
    rule: the last message's, or the last confident one's)."""
    results = {}
    for ids in sessions.values():
        if wanted.isdisjoint(ids):
            continue
        remembered = None
        for message_id in ids:
            result = engine.classify(convert(texts[message_id]), remembered if context else None)
            kept = engine.remembered(result)
            remembered = remembered if kept is None else kept
            if message_id in wanted:
                results[message_id] = result
    return results


def _chat_rows(path: Path, split: str, texts: dict[str, str]) -> list[dict]:
    """The label rows of ``split``, each with its text; every id must have one."""
    from classifiers.evaluate import SPLITS

    if not path.is_file():
        raise EvalError(f"label file not found: {path}")
    wanted = SPLITS[split]
    rows = [row for row in _read_jsonl_file(path) if row.get("split") in wanted]
    missing = [row.get("id") for row in rows if row.get("id") not in texts]
    if missing:
        raise EvalError(f"{path}: no text for {len(missing)} ids (first {missing[:3]}) in the data")
    return [{**row, "text": texts[row["id"]]} for row in rows]


def _eval_chat(args, out: TextIO) -> int:
    """Lint and intents on the real-chat labels, in Simplified and converted to Traditional."""
    import opencc

    from classifiers import evaluate

    engine = _engine_for(args.context, args.model)
    try:
        texts, sessions = _chat_data(Path(args.data))
        intent_rows = _chat_rows(Path(args.intent_labels), args.split, texts)
        lint_rows = _chat_rows(Path(args.lint_labels), args.split, texts)
    except EvalError as exc:
        out.write(
            json.dumps({"error": {"code": "eval_data", "message": str(exc)}}) + "\n"
            if args.json
            else f"{exc}\n"
        )
        return 2
    severities = evaluate.category_severities([(str(r.category), str(r.severity)) for r in engine.rules])
    to_traditional = opencc.OpenCC("s2twp")
    context = None if args.no_context else args.context
    summary: dict = {"split": args.split, "context": context, "profile": args.profile}
    sections = []
    for script, convert in (("simplified", str), ("traditional", to_traditional.convert)):
        classified = _classify_sessions(
            engine, sessions, texts, {row["id"] for row in intent_rows}, convert, not args.no_context
        )
        predictions = []
        for row in intent_rows:
            result = classified.get(row["id"]) or engine.classify(convert(row["text"]))
            predictions.append(
                evaluate.IntentPrediction(
                    id=row["id"],
                    text=convert(row["text"]),
                    truth=row["intent"],
                    also=tuple(row.get("also") or ()),
                    predicted=str(result.intent),
                    confidence=result.confidence,
                    intents=tuple(str(s.intent) for s in result.intents),
                )
            )
        intents = evaluate.intent_chat_report(predictions, INTENT_LABELS, misses=args.misses)
        lint = evaluate.lint_chat_report(
            [row["flags"] for row in lint_rows],
            [
                [(f.category, str(f.severity)) for f in engine.lint(convert(row["text"]), args.profile).flags]
                for row in lint_rows
            ],
            severities,
        )
        summary[script] = {"intents": intents, "lint": lint}
        sections.append(
            evaluate.format_intent_chat(
                intents, f"== {script}: intents, {args.split} ({len(intent_rows)} messages)"
            )
            + "\n\n"
            + evaluate.format_lint_chat(lint, f"== {script}: lint, {args.split} ({len(lint_rows)} lines)")
        )
    simplified, traditional = summary["simplified"]["intents"], summary["traditional"]["intents"]
    summary["traditional_gap"] = {
        "macro_f1": round(simplified["macro_f1"] - traditional["macro_f1"], 4),
        "macro_f1_supported": round(simplified["macro_f1_supported"] - traditional["macro_f1_supported"], 4),
    }
    if args.json:
        out.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        gap = summary["traditional_gap"]
        out.write(
            "\n\n".join(sections)
            + f"\n\nTraditional (OpenCC s2twp) vs Simplified: macro-F1 gap {gap['macro_f1']:+.3f}, "
            f"over supported labels {gap['macro_f1_supported']:+.3f}\n"
        )
    return 0


def _eval_lint_flags(engine, rows: list[dict], args, out: TextIO) -> int:
    """Lines labelled like the real chats ({text, flags}): the real-chat lint report, Simplified
    and Traditional, with the lines whose flags differ from their labels."""
    import opencc

    from classifiers import evaluate

    severities = evaluate.category_severities([(str(r.category), str(r.severity)) for r in engine.rules])
    to_traditional = opencc.OpenCC("s2twp")
    summary: dict = {"profile": args.profile}
    sections = []
    for script, convert in (("simplified", str), ("traditional", to_traditional.convert)):
        raised = [
            [(f.category, str(f.severity)) for f in engine.lint(convert(row["text"]), args.profile).flags]
            for row in rows
        ]
        report = evaluate.lint_chat_report([row["flags"] for row in rows], raised, severities)
        wrong = [
            (row, sorted({c for c, _ in flags}))
            for row, flags in zip(rows, raised, strict=True)
            if sorted(set(row["flags"])) != sorted({c for c, _ in flags})
        ]
        report["wrong"] = [
            {"text": convert(row["text"]), "labels": sorted(row["flags"]), "raised": got}
            for row, got in wrong[: args.misses]
        ]
        summary[script] = report
        text = evaluate.format_lint_chat(report, f"== {script}: lint, {args.file} ({len(rows)} lines)")
        if wrong:
            text += f"\n{len(wrong)} lines flagged otherwise than labelled (first {args.misses}):"
            for row, got in wrong[: args.misses]:
                text += (
                    f"\n  {','.join(sorted(row['flags'])) or 'clean':<20} raised {','.join(got) or '-':<20} "
                )
                text += convert(row["text"])
        sections.append(text)
    out.write(json.dumps(summary, ensure_ascii=False) + "\n" if args.json else "\n\n".join(sections) + "\n")
    return 0


def cmd_eval(args, stdin: TextIO, out: TextIO) -> int:
    from classifiers import evaluate

    if args.what == "chat":
        return _eval_chat(args, out)
    if args.what == "chat-rank":
        return _eval_chat_rank(args, out)
    if not args.file:
        out.write(f"huashu eval {args.what} needs a labelled FILE\n")
        return 2
    engine = _engine_for(DEFAULT_CONTEXT, args.model)
    rows = _labelled_rows(Path(args.file), Path(args.texts) if args.texts else None)
    if args.what == "intents":
        predicted = [str(engine.classify(row["text"]).intent) for row in rows]
        result = evaluate.report([row["label"] for row in rows], predicted, INTENT_LABELS)
        summary, text = (
            result.to_dict(),
            evaluate.format_report(result, f"intents: {args.file} ({len(rows)} messages)"),
        )
    elif args.what == "lint" and rows and all("flags" in row for row in rows):
        return _eval_lint_flags(engine, rows, args, out)
    elif args.what == "lint":
        results = [engine.lint(row["text"]) for row in rows]
        banned = evaluate.report(
            ["banned" if row["banned"] else "clean" for row in rows],
            ["banned" if r.flags else "clean" for r in results],
            ["banned", "clean"],
        )
        categories = sorted({row["category"] for row in rows if row.get("category")} | {"none"})
        by_category = evaluate.report(
            [row.get("category") or "none" if row["banned"] else "none" for row in rows],
            [_first_category(r, categories) for r in results],
            categories,
        )
        summary = {"banned": banned.to_dict(), "categories": by_category.to_dict()}
        text = (
            evaluate.format_report(banned, f"lint: {args.file} ({len(rows)} drafts)")
            + "\n\n"
            + evaluate.format_report(by_category, "lint categories")
        )
    else:
        ranked, relevant = [], []
        for row in rows:
            _, suggestions = engine.suggest(row["text"], k=args.k)
            ranked.append([s.reply_id for s in suggestions])
            relevant.append(set(row["relevant"]))
        ranking = evaluate.rank_report(ranked, relevant, args.k)
        summary = ranking.to_dict()
        text = (
            f"ranking: {args.file} ({ranking.cases} messages)\n"
            f"hit@1 {ranking.hit_at_1:.3f}   hit@{args.k} {ranking.hit_at_k:.3f}   MRR {ranking.mrr:.3f}"
        )
    out.write(json.dumps(summary, ensure_ascii=False) + "\n" if args.json else text + "\n")
    return 0


def _eval_chat_rank(args, out: TextIO) -> int:
    """Hit@1, hit@k and MRR on real buyer messages whose real seller answer matches approved
    replies (eval/chat_rank_pairs.jsonl), held-out, dev and all; the previous buyer message of
    the session is the context, as the service remembers it."""
    from classifiers import evaluate

    engine = _engine_for(args.context, args.model)
    try:
        texts, sessions = _chat_data(Path(args.data))
        rows = _chat_rows(Path(args.rank_labels), "all", texts)
    except EvalError as exc:
        out.write(
            json.dumps({"error": {"code": "eval_data", "message": str(exc)}}) + "\n"
            if args.json
            else f"{exc}\n"
        )
        return 2
    # What the service would remember before each message, from its session's buyer messages.
    memory = {} if args.no_context else _session_memory(engine, sessions, texts, {row["id"] for row in rows})
    ranked: dict[str, list[str]] = {}
    for row in rows:
        _, suggestions = engine.suggest(row["text"], k=args.k, previous=memory.get(row["id"]))
        ranked[row["id"]] = [s.reply_id for s in suggestions]
    summary: dict = {"k": args.k, "context": not args.no_context}
    lines = [f"ranking on real pairs: {args.rank_labels}"]
    for split, wanted in (("held-out", "heldout"), ("dev", "dev"), ("all", None)):
        chosen = [row for row in rows if wanted is None or row["split"] == wanted]
        report = evaluate.rank_report(
            [ranked[row["id"]] for row in chosen], [set(row["relevant"]) for row in chosen], args.k
        )
        summary[split] = report.to_dict()
        lines.append(
            f"{split:<9}{report.cases:>5} pairs   hit@1 {report.hit_at_1:.3f}   "
            f"hit@{args.k} {report.hit_at_k:.3f}   MRR {report.mrr:.3f}"
        )
    misses = [row for row in rows if not set(ranked[row["id"]]) & set(row["relevant"])]
    summary["misses"] = [
        {"id": row["id"], "relevant": row["relevant"], "ranked": ranked[row["id"]]}
        for row in misses[: args.misses]
    ]
    if args.misses and misses:
        lines.append(f"\nmisses (first {min(args.misses, len(misses))} of {len(misses)}): id, wanted → got")
        lines += [
            f"  {row['id']} {'|'.join(row['relevant'])} → {'|'.join(ranked[row['id']]) or '-'}"
            for row in misses[: args.misses]
        ]
    out.write(json.dumps(summary, ensure_ascii=False) + "\n" if args.json else "\n".join(lines) + "\n")
    return 0


def _first_category(result, categories: list[str]) -> str:
    for flag in result.flags:
        if flag.category in categories:
            return flag.category
    return "none"


def cmd_train(args, stdin: TextIO, out: TextIO) -> int:
    from functools import partial

    from classifiers import corpus, intent
    from classifiers.engine import analyze
    from classifiers.tokenize import Tokenizer

    tokenizer = Tokenizer(corpus.DICTIONARY_FILE)
    examples = corpus.training_examples()
    for extra in args.also:  # a candidate's extra lines, for an experiment: not what ships
        try:
            examples += corpus.training_examples_from(Path(extra))
        except (OSError, ValueError, corpus.CorpusError) as exc:
            out.write(f"huashu train: cannot read --also {extra}: {exc}\n")
            return 2
    artifact = intent.train(examples, partial(analyze, tokenizer), c=args.c, threshold=args.threshold)
    path = Path(args.output) if args.output else intent.MODEL_FILE
    path.write_text(
        json.dumps(artifact, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8"
    )
    out.write(f"trained on {len(examples)} examples, {len(artifact['weights'])} features → {path}\n")
    return 0


def cmd_serve(args, stdin: TextIO, out: TextIO) -> int:
    import uvicorn

    from app.config import get_settings
    from app.server import GuardedHttpTools, GuardedWebSocket

    uvicorn.run(
        args.app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        log_level=args.log_level,
        # The fastest implementations uvicorn offers, chosen explicitly so that the benchmark's
        # echo server runs on exactly the same stack (see bench/), with the header limits and
        # timeouts and the WebSocket send timeout of app/server.py.
        loop="uvloop",
        http=GuardedHttpTools,
        ws=GuardedWebSocket,
        timeout_keep_alive=int(get_settings().keep_alive_timeout_s),
        ws_max_size=4 * 1024 * 1024,  # larger frames than the app limit get a typed error, not a drop
    )
    return 0


def cmd_bench(args, stdin: TextIO, out: TextIO) -> int:
    from bench.service_bench import run_benchmark

    return run_benchmark(args, out)


def _open_database(*, reading: bool):
    """The DATABASE_URL database (or the default one), named on stderr. A command that only
    reads (or changes what must already be there) refuses a SQLite file that does not exist,
    rather than making an empty one where it happens to run."""
    from app import store
    from app.config import describe_database, get_settings, sqlite_path

    settings = get_settings()
    url = settings.database_url
    where = (
        "DATABASE_URL"
        if "database_url" in settings.model_fields_set
        else "the default, under the current folder"
    )
    path = sqlite_path(url)
    if reading and path is not None and not path.is_file():
        sys.stderr.write(
            f"huashu: no database at {path} ({where}); run this where the server runs, "
            "or set DATABASE_URL to the server's database\n"
        )
        raise SystemExit(2)
    new = path is not None and not path.exists()
    sys.stderr.write(
        f"huashu: {'creating' if new else 'using'} database {describe_database(url)} ({where})\n"
    )
    return store.connect(url)


def cmd_keys(args, stdin: TextIO, out: TextIO) -> int:
    from sqlmodel import Session

    from app import auth, store

    database = _open_database(reading=args.action != "create")
    store.upgrade(database)
    if args.action == "create":
        key, record = auth.create_key(database, name=args.name, role=auth.Role(args.role))
        out.write(f"created {record.role} key #{record.id} {record.name!r}; it is shown only now:\n{key}\n")
        return 0
    with Session(database) as session:
        if args.action == "list":
            for k in store.list_api_keys(session):
                state = "revoked" if k.revoked_at else "active"
                out.write(f"{k.id}\t{k.role}\t{k.prefix}…\t{state}\t{k.name}\n")
            return 0
        revoked = store.revoke_api_key(session, key_id=args.id)
        if revoked is None:
            out.write(f"no key with id {args.id}\n")
            return 1
        out.write(f"revoked key #{revoked.id} {revoked.name!r}\n")
    return 0


def cmd_db(args, stdin: TextIO, out: TextIO) -> int:
    from alembic.migration import MigrationContext

    from app import store

    database = _open_database(reading=args.action == "current")
    if args.action == "upgrade":
        store.upgrade(database, args.revision)
    with database.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    out.write(f"{database.url.render_as_string(hide_password=True)}: schema at revision {revision}\n")
    database.dispose()
    return 0


def cmd_corpus(args, stdin: TextIO, out: TextIO) -> int:
    """Export the DATABASE_URL database's corpus as one file, or import one (as the REST routes)."""
    import json
    from pathlib import Path

    from app import corpus_io, editing, store
    from app.errors import ApiError
    from classifiers import Engine

    database = _open_database(reading=args.action == "export")
    store.upgrade(database)
    try:
        if args.action == "export":
            replies, rules = editing.export_corpus(database)
            out.write(corpus_io.render(replies, rules, args.format).decode())
            return 0
        path = Path(args.file)
        suffixes: dict[str, corpus_io.Format] = {
            ".yml": "yaml",
            ".yaml": "yaml",
            ".csv": "csv",
            ".json": "json",
        }
        fmt: corpus_io.Format | None = args.format or suffixes.get(path.suffix)
        if fmt is None:
            out.write(json.dumps({"error": "say --format yaml|csv|json"}) + "\n")
            return 2
        try:
            document = corpus_io.parse(path.read_bytes(), fmt)
            engine = Engine.load(replies=[], rules=[])
            report = editing.import_corpus(database, engine, document, dry_run=args.dry_run, actor="cli")
        except ApiError as exc:
            out.write(json.dumps(exc.body(), ensure_ascii=False, default=str) + "\n")
            return 1
        out.write(json.dumps(report, ensure_ascii=False, default=str) + "\n")
        return 0
    finally:
        database.dispose()


def cmd_report(args, stdin: TextIO, out: TextIO) -> int:
    """The analytics' charts (SVG) and a summary table from the DATABASE_URL database."""
    from app import analytics, report, store
    from app.config import get_settings
    from app.errors import ApiError

    try:
        when = analytics.period(
            args.from_, args.to, utc_offset_minutes=args.utc_offset_minutes, shop_id=args.shop_id
        )
    except ApiError as exc:
        out.write(f"{exc.message}\n")
        return 2
    database = store.connect(get_settings().database_url)
    try:
        store.upgrade(database)
        for path in report.write_report(database, when, Path(args.out)):
            out.write(f"{path}\n")
    finally:
        database.dispose()
    return 0


# What the browser loads; the extension's tests and package.json stay out of the zip.
EXTENSION_PARTS = ("manifest.json", "background.js", "content", "panel", "options")


def cmd_extension(args, stdin: TextIO, out: TextIO) -> int:
    import zipfile

    source = Path(args.source)
    if not (source / "manifest.json").is_file():
        out.write(f"no extension at {source} (expected {source / 'manifest.json'})\n")
        return 1
    with zipfile.ZipFile(args.output, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in EXTENSION_PARTS:
            path = source / part
            for file in sorted([path] if path.is_file() else path.rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(source).as_posix())
    out.write(f"{args.output}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huashu", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("classify", help="JSON Lines {id, text} → intent").set_defaults(run=cmd_classify)
    suggest = commands.add_parser("suggest", help="JSON Lines {id, text, context?} → ranked replies")
    suggest.add_argument("-k", type=int, default=3)
    suggest.set_defaults(run=cmd_suggest)
    commands.add_parser("lint", help="JSON Lines {id, text} → flags").set_defaults(run=cmd_lint)
    evaluate = commands.add_parser(
        "eval",
        help="precision/recall/F1: on the real-chat labels (default), or on a labelled file",
    )
    evaluate.add_argument(
        "what",
        nargs="?",
        default="chat",
        choices=["chat", "chat-rank", "intents", "lint", "rank"],
        help="chat: eval/chat_*_labels.jsonl joined with --data, Simplified and Traditional",
    )
    evaluate.add_argument(
        "file",
        nargs="?",
        help="the labelled file (intents, lint, rank); lint reads {text, banned, category} or {text, flags}",
    )
    evaluate.add_argument(
        "--split",
        choices=["held-out", "heldout", "train", "dev", "all", "fresh"],
        default="held-out",
        help="chat labels to read: all = dev + held-out; fresh (a test set kept for later) only by name",
    )
    evaluate.add_argument("--data", default=str(DEFAULT_DATA), help="folder with dev_chats.jsonl (chat)")
    evaluate.add_argument("--intent-labels", default=str(CHAT_INTENT_LABELS))
    evaluate.add_argument("--lint-labels", default=str(CHAT_LINT_LABELS))
    evaluate.add_argument("--rank-labels", default=str(CHAT_RANK_PAIRS), help="pairs for chat-rank")
    # The real chats are JD's, labelled against JD's rules (naming 京东 there is fine).
    evaluate.add_argument(
        "--profile",
        default="jd",
        choices=["strict", "taobao", "jd", "pinduoduo"],
        help="lint profile (chat, lint with flags)",
    )
    evaluate.add_argument("--misses", type=int, default=20, help="how many worst misses to list")
    evaluate.add_argument(
        "--no-context",
        action="store_true",
        help="classify each message alone, without its session's previous message",
    )
    evaluate.add_argument(
        "--context",
        default=DEFAULT_CONTEXT,
        choices=sorted(CONTEXT_RULES),
        help="how a message leans on its session (classifiers/intent.py CONTEXT_RULES; chat)",
    )
    evaluate.add_argument(
        "--model", help="an intent model to measure instead of the shipped one (huashu train --output)"
    )
    evaluate.add_argument("--texts", help="JSON Lines {id, text} for rows that hold only an id")
    evaluate.add_argument("-k", type=int, default=3)
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(run=cmd_eval)
    train = commands.add_parser("train", help="rebuild the intent model from scripts_corpus/")
    train.add_argument(
        "--output", help="where the model goes (default: the shipped classifiers/intent_model.json)"
    )
    train.add_argument(
        "--also",
        action="append",
        default=[],
        help="a JSON Lines file of more {text, intents} lines (repeatable)",
    )
    train.add_argument("--c", type=float, default=8.0, help="inverse regularisation strength")
    train.add_argument(
        "--threshold", type=float, default=0.5, help="top score below which the model abstains"
    )
    train.set_defaults(run=cmd_train)
    serve = commands.add_parser("serve", help="run the service (DATABASE_URL, default a SQLite file)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--access-log", action="store_true")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--app", default="app.main:app", help=argparse.SUPPRESS)  # the benchmark's echo app
    serve.set_defaults(run=cmd_serve)
    bench = commands.add_parser("bench", help="throughput and latency of the real server against a bare echo")
    bench.add_argument("--duration", type=float, default=4.0, help="seconds measured per case")
    bench.add_argument("--sizes", default="1000,10000,100000", help="corpus sizes (replies)")
    bench.add_argument("--out", default="bench/results.json", help="where the JSON report goes")
    bench.add_argument(
        "--postgres-url",
        default=None,
        help="a PostgreSQL server: also run N workers against it (a database is created and dropped)",
    )
    bench.add_argument("--workers", default="1,2,4", help="worker counts for the scale-out run")
    bench.add_argument("--only-scale-out", action="store_true")
    bench.set_defaults(run=cmd_bench)
    keys = commands.add_parser("keys", help="manage API keys in the DATABASE_URL database")
    key_actions = keys.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create", help="create a key; prints it once, alone on the last line")
    create.add_argument("--role", choices=["agent", "editor", "admin"], required=True)
    create.add_argument("--name", required=True)
    key_actions.add_parser("list")
    revoke = key_actions.add_parser("revoke")
    revoke.add_argument("id", type=int)
    keys.set_defaults(run=cmd_keys)
    db = commands.add_parser("db", help="the DATABASE_URL database's schema (Alembic migrations)")
    db_actions = db.add_subparsers(dest="action", required=True)
    upgrade = db_actions.add_parser(
        "upgrade", help="migrate to the newest schema (the service does at start)"
    )
    upgrade.add_argument("revision", nargs="?", default="head")
    db_actions.add_parser("current", help="print the schema's revision")
    db.set_defaults(run=cmd_db)
    corpus = commands.add_parser("corpus", help="the DATABASE_URL database's corpus as one file")
    corpus_actions = corpus.add_subparsers(dest="action", required=True)
    export = corpus_actions.add_parser("export", help="write every reply and rule to stdout")
    export.add_argument("--format", choices=["yaml", "csv", "json"], default="yaml")
    imported = corpus_actions.add_parser("import", help="apply a file (all or nothing); prints the report")
    imported.add_argument("file")
    imported.add_argument("--format", choices=["yaml", "csv", "json"], default=None)
    imported.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    corpus.set_defaults(run=cmd_corpus)
    reporting = commands.add_parser("report", help="the analytics as SVG charts and a summary table")
    reporting.add_argument("--out", required=True, help="the folder to write (made if missing)")
    reporting.add_argument("--from", dest="from_", help="first day, YYYY-MM-DD (default: 30 days ago)")
    reporting.add_argument("--to", help="last day, YYYY-MM-DD, included (default: today)")
    reporting.add_argument("--shop-id", help="one shop's messages only")
    reporting.add_argument(
        "--utc-offset-minutes", type=int, default=480, choices=range(-720, 841), metavar="MINUTES",
        help="where a day begins (default 480: China time)",
    )  # fmt: skip
    reporting.set_defaults(run=cmd_report)
    extension = commands.add_parser("extension", help="the agents' browser extension")
    extension_actions = extension.add_subparsers(dest="action", required=True)
    pack = extension_actions.add_parser("pack", help="zip extension/ for Load unpacked or the Web Store")
    pack.add_argument("--source", default=str(Path(__file__).resolve().parents[1] / "extension"))
    pack.add_argument("--output", default="huashu-extension.zip")
    extension.set_defaults(run=cmd_extension)
    return parser


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    run: Callable = args.run
    return run(args, stdin, out)


if __name__ == "__main__":
    raise SystemExit(main())
