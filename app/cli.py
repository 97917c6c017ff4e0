"""The ``huashu`` command: JSON Lines tools over the language core, and the service's chores."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from app.schemas import classification_body, lint_body, suggestions_body
from classifiers.types import SCORED_INTENTS, Intent

INTENT_LABELS = [str(i) for i in (*SCORED_INTENTS, Intent.OTHER)]
DEFAULT_TEXTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev_buyer_messages.jsonl"


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


def cmd_eval(args, stdin: TextIO, out: TextIO) -> int:
    from classifiers import evaluate

    engine = _engine()
    rows = _labelled_rows(Path(args.file), Path(args.texts) if args.texts else None)
    if args.what == "intents":
        predicted = [str(engine.classify(row["text"]).intent) for row in rows]
        result = evaluate.report([row["label"] for row in rows], predicted, INTENT_LABELS)
        summary, text = (
            result.to_dict(),
            evaluate.format_report(result, f"intents: {args.file} ({len(rows)} messages)"),
        )
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
    artifact = intent.train(examples, partial(analyze, tokenizer))
    path = Path(args.output) if args.output else intent.MODEL_FILE
    path.write_text(
        json.dumps(artifact, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8"
    )
    out.write(f"trained on {len(examples)} examples, {len(artifact['weights'])} features → {path}\n")
    return 0


def cmd_serve(args, stdin: TextIO, out: TextIO) -> int:
    import uvicorn

    uvicorn.run(
        args.app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        log_level=args.log_level,
        # The fastest implementations uvicorn offers, chosen explicitly so that the benchmark's
        # echo server runs on exactly the same stack (see bench/).
        loop="uvloop",
        http="httptools",
        ws="websockets",
        ws_max_size=4 * 1024 * 1024,  # larger frames than the app limit get a typed error, not a drop
    )
    return 0


def cmd_bench(args, stdin: TextIO, out: TextIO) -> int:
    from bench.service_bench import run_benchmark

    return run_benchmark(args, out)


def cmd_keys(args, stdin: TextIO, out: TextIO) -> int:
    from sqlmodel import Session

    from app import auth, store
    from app.config import get_settings

    database = store.connect(get_settings().database_url)
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
    from app.config import get_settings

    database = store.connect(get_settings().database_url)
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
    from app.config import get_settings
    from app.errors import ApiError
    from classifiers import Engine

    database = store.connect(get_settings().database_url)
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
    evaluate = commands.add_parser("eval", help="precision/recall/F1 on a labelled file")
    evaluate.add_argument("what", choices=["intents", "lint", "rank"])
    evaluate.add_argument("file")
    evaluate.add_argument("--texts", help="JSON Lines {id, text} for rows that hold only an id")
    evaluate.add_argument("-k", type=int, default=3)
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(run=cmd_eval)
    train = commands.add_parser("train", help="rebuild the intent model from scripts_corpus/")
    train.add_argument("--output")
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
