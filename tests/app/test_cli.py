import json
import subprocess
import sys

from classifiers import evaluate
from tests.helpers import ROOT, dev_messages


def run(*args: str, stdin: str = "") -> list[dict] | str:
    completed = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return completed.stdout


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def test_classify_jsonl_with_bad_lines():
    stdin = '{"id": "a", "text": "什么时候发货"}\nnot json\n{"id": "b"}\n{"id": "c", "text": "能便宜点吗"}\n'
    out = lines(run("classify", stdin=stdin))
    assert out[0]["id"] == "a" and out[0]["intent"] == "logistics" and out[0]["tokens"]
    assert out[1] == {"line": 2, "error": out[1]["error"]} and out[1]["error"]["code"] == "invalid_json"
    assert out[2]["error"]["code"] == "missing_text" and out[2]["line"] == 3
    assert out[3]["id"] == "c" and out[3]["intent"] == "bargaining"


def test_suggest_and_lint():
    out = lines(
        run("suggest", "-k", "2", stdin='{"id": 1, "text": "发什么快递", "context": {"courier": "中通"}}\n')
    )
    assert len(out[0]["suggestions"]) == 2
    assert {"reply_id", "text", "intent", "score", "missing_slots"} <= out[0]["suggestions"][0].keys()
    out = lines(run("lint", stdin='{"id": 1, "text": "可能吧"}\n{"id": 2, "text": "好的亲"}\n'))
    assert out[0]["ok"] is False and out[0]["flags"][0]["category"] == "uncertain"
    assert out[1] == {"id": 2, "ok": True, "flags": []}


def test_eval_intents_reports_what_the_classifier_answers(engine, tmp_path):
    """The command's figures are those of the classifier on the labelled lines (texts inline)."""
    rows = [
        {"id": "a", "text": "什么时候发货呀", "label": "logistics"},
        {"id": "b", "text": "能便宜一点吗", "label": "bargaining"},
        {"id": "c", "text": "我要退货", "label": "refund"},
        {"id": "d", "text": "再考虑考虑吧", "label": "hesitation"},
        {"id": "e", "text": "你好", "label": "other"},
        {"id": "f", "text": "包邮吗", "label": "refund"},  # mislabelled on purpose: one miss
    ]
    labelled = tmp_path / "labels.jsonl"
    labelled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report = json.loads(run("eval", "intents", str(labelled), "--json"))
    labels = ["bargaining", "hesitation", "logistics", "refund", "other"]
    expected = evaluate.report(
        [r["label"] for r in rows], [str(engine.classify(r["text"]).intent) for r in rows], labels
    ).to_dict()
    assert report == json.loads(json.dumps(expected))
    assert report["macro_f1"] < 1  # the mislabelled line counts against it


def test_eval_commands_on_the_development_data():
    dev_messages()  # skips, saying where the data goes, when it is not beside the checkout
    report = json.loads(run("eval", "intents", "eval/dev_labels.jsonl", "--json"))
    assert set(report["classes"]) == {"bargaining", "hesitation", "logistics", "refund", "other"}
    assert sum(map(sum, report["confusion"])) == len(
        (ROOT / "eval/dev_labels.jsonl").read_text().splitlines()
    )


def test_eval_lint_and_rank_on_our_own_cases():
    text = run("eval", "lint", "eval/lint_cases.jsonl")
    assert "precision" in text and "confusion" in text
    assert "hit@3" in run("eval", "rank", "eval/rank_cases.jsonl")


def test_corpus_export_and_import_from_the_cli(tmp_path, monkeypatch):
    """`huashu corpus export | import [--dry-run]` against the DATABASE_URL database."""
    import io
    import json

    from app import cli, store
    from app.config import get_settings

    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        database = store.connect(url)
        store.prepare(database)
        database.dispose()
        out = io.StringIO()
        assert cli.main(["corpus", "export", "--format", "json"], out=out) == 0
        document = json.loads(out.getvalue())
        document["replies"][0]["text"] += "（新）"
        path = tmp_path / "corpus.json"
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        for dry_run in (True, False):
            out = io.StringIO()
            assert (
                cli.main(["corpus", "import", str(path), *(["--dry-run"] if dry_run else [])], out=out) == 0
            )
            report = json.loads(out.getvalue())
            assert report["applied"] is not dry_run
            assert [c["id"] for c in report["changed"]] == [document["replies"][0]["id"]]
        out = io.StringIO()
        assert cli.main(["corpus", "import", str(path)], out=out) == 1  # the version is stale now
        assert json.loads(out.getvalue())["error"]["code"] == "import_refused"
        bad = tmp_path / "bad.yaml"
        bad.write_text("replies:\n  - id: [x\n", encoding="utf-8")
        out = io.StringIO()
        assert cli.main(["corpus", "import", str(bad)], out=out) == 1
        assert json.loads(out.getvalue())["error"]["detail"] == {"line": 3}
    finally:
        get_settings.cache_clear()


def test_extension_pack_zips_what_the_browser_loads(tmp_path):
    import io
    import zipfile

    from app.cli import main

    output = tmp_path / "ext.zip"
    assert main(["extension", "pack", "--output", str(output)], out=io.StringIO()) == 0
    names = zipfile.ZipFile(output).namelist()
    assert {
        "manifest.json",
        "background.js",
        "panel/panel.js",
        "content/loader.js",
        "content/adapters/qianniu.js",
        "options/options.js",
    } <= set(names)
    assert not any(name.startswith(("test/", "node_modules/")) or name == "package.json" for name in names)
    missing = io.StringIO()
    assert main(["extension", "pack", "--source", str(tmp_path), "--output", str(output)], out=missing) == 1
    assert "no extension at" in missing.getvalue()
