import json
import subprocess
import sys

import pytest

from classifiers import evaluate
from classifiers.types import SCORED_INTENTS
from tests.helpers import ROOT, SHARED, dev_messages


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
    assert out[1] == {"id": 2, "ok": True, "flags": [], "nearest_reply": None}


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


def test_eval_lint_reads_lines_labelled_like_the_chats(tmp_path):
    """{text, flags} rows (a constructed set) get the real-chat report: per category, block,
    warn, false alarms, in both scripts, and the lines flagged otherwise than labelled."""
    labelled = [
        ("可能吧", ["uncertain"]),  # caught
        ("加我微信聊", ["off_platform"]),  # caught
        ("好的亲，已经帮您催促了", []),  # clean, stays clean
        ("亲，今天天气不错", ["refusal"]),  # a wrong label: the linter does not raise it
    ]
    path = tmp_path / "set.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t, "flags": f}, ensure_ascii=False) + "\n" for t, f in labelled)
    )
    report = json.loads(run("eval", "lint", str(path), "--json", "--profile", "strict"))
    for script in ("simplified", "traditional"):
        figures = report[script]
        assert figures["lines"] == 4
        assert figures["block"] == {"precision": 1.0, "recall": 1.0, "support": 2, "flagged": 2}
        assert figures["warn"] == {"recall": 0.0, "support": 1}
        assert figures["clean"]["false_alarms"] == 0 and figures["clean"]["lines"] == 1
        assert [w["labels"] for w in figures["wrong"]] == [["refusal"]]
    assert report["traditional"]["wrong"][0]["text"] == "親，今天天氣不錯"
    text = run("eval", "lint", str(path))
    assert "1 lines flagged otherwise than labelled" in text and "== traditional: lint" in text


# A tiny chat set of our own writing, in the shape of ../shared/data (which is never copied here).
FIXTURE_CHATS = [
    ("s-0001", "buyer", "我的包裹到哪了"),
    ("s-0001", "seller", "亲，已经在派送中了哦"),
    ("s-0001", "buyer", "那大概几天能到"),
    ("s-0001", "seller", "可能吧"),
    ("s-0002", "buyer", "我要退款"),
    ("s-0002", "seller", "好的亲，这边帮您处理"),
    ("s-0002", "buyer", "好的谢谢"),
    ("s-0002", "seller", "加我微信聊"),
    ("s-0003", "buyer", "能便宜点吗，什么时候发货"),
    ("s-0003", "seller", "不行"),
    ("s-0004", "buyer", "发票抬头能改成公司吗"),
    ("s-0004", "seller", "可能吧"),
]


def _chat_fixture(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows, turn = [], {}
    for session, role, text in FIXTURE_CHATS:
        n = turn[session] = turn.get(session, -1) + 1
        rows.append({"id": f"{session}-{n:02d}-0", "session": session, "turn": n, "role": role, "text": text})
    write = lambda path, items: path.write_text(  # noqa: E731
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), encoding="utf-8"
    )
    write(data / "dev_chats.jsonl", rows)
    write(data / "dev_seller_lines.jsonl", [{"id": "s-ans-001-0-0", "text": "好的亲，马上为您查询"}])
    intents = [
        {"id": "s-0001-00-0", "intent": "logistics", "split": "heldout"},
        {"id": "s-0001-02-0", "intent": "logistics", "split": "heldout"},
        {"id": "s-0002-00-0", "intent": "refund", "split": "dev"},
        {"id": "s-0002-02-0", "intent": "refund", "split": "dev"},  # mislabelled on purpose
        {"id": "s-0003-00-0", "intent": "bargaining", "also": ["logistics"], "split": "heldout"},
        {"id": "s-0004-00-0", "intent": "other", "split": "fresh"},
    ]
    lint = [
        {"id": "s-0001-03-0", "flags": ["uncertain"], "split": "heldout"},
        {"id": "s-0002-01-0", "flags": [], "split": "dev"},
        {"id": "s-0002-03-0", "flags": ["off_platform"], "split": "heldout"},
        {"id": "s-0003-01-0", "flags": ["refusal"], "split": "heldout"},
        {"id": "s-ans-001-0-0", "flags": [], "split": "heldout"},
        {"id": "s-0004-01-0", "flags": ["uncertain"], "split": "fresh"},
    ]
    write(tmp_path / "intents.jsonl", intents)
    write(tmp_path / "lint.jsonl", lint)
    return [
        "--data",
        str(data),
        "--intent-labels",
        str(tmp_path / "intents.jsonl"),
        "--lint-labels",
        str(tmp_path / "lint.jsonl"),
    ], rows


def test_eval_chat_reports_the_classifier_on_labelled_ids(engine, tmp_path):
    """`huashu eval` joins labels with texts by id, keeps the split, uses the previous buyer
    message as context, and reports Simplified and Traditional."""
    import opencc

    args, rows = _chat_fixture(tmp_path)
    text = {r["id"]: r["text"] for r in rows}
    report = json.loads(run("eval", *args, "--json", "--split", "all"))
    simplified = report["simplified"]["intents"]
    assert simplified["messages"] == 5 and report["simplified"]["lint"]["lines"] == 5
    misses = {m["id"]: m for m in simplified["worst_misses"]}
    assert "s-0002-02-0" in misses and misses["s-0002-02-0"]["text"] == "好的谢谢"
    labels = ["bargaining", "hesitation", "logistics", "refund", "other"]
    truth = {"s-0001-00-0": "logistics", "s-0001-02-0": "logistics", "s-0002-00-0": "refund"}
    truth |= {"s-0002-02-0": "refund", "s-0003-00-0": "bargaining"}
    predicted = {}
    for session in ("s-0001", "s-0002", "s-0003"):  # each session's buyer messages in order
        remembered = None
        for i in sorted(i for i in truth if i.startswith(session)):
            result = engine.classify(text[i], remembered)
            predicted[i] = str(result.intent)
            scores = {s.intent: s.score for s in result.intents}  # what app.context remembers
            remembered = [scores.get(intent, 0.0) for intent in SCORED_INTENTS]
    expected = evaluate.report(list(truth.values()), list(predicted.values()), labels)
    assert simplified["confusion"] == expected.confusion
    assert simplified["macro_f1"] == expected.macro_f1
    assert {i for i in truth if predicted[i] != truth[i]} == set(misses)
    lint = report["simplified"]["lint"]
    assert lint["categories"]["uncertain"]["recall"] == 1.0  # 可能吧
    assert lint["clean"]["lines"] == 2 and lint["clean"]["false_alarms"] == 0
    assert lint["warn"]["support"] == 1
    traditional = report["traditional"]["intents"]
    converted = opencc.OpenCC("s2twp").convert("好的谢谢")
    assert {m["text"] for m in traditional["worst_misses"]} >= {converted}
    assert report["traditional_gap"]["macro_f1"] == round(simplified["macro_f1"] - traditional["macro_f1"], 4)

    held_out = json.loads(run("eval", *args, "--json"))
    assert held_out["split"] == "held-out"
    assert held_out["simplified"]["intents"]["messages"] == 3
    assert held_out["simplified"]["lint"]["lines"] == 4
    assert held_out["simplified"]["intents"]["multi_intent"]["secondary_labels"] == 1
    train = json.loads(run("eval", *args, "--json", "--split", "train"))
    assert train["simplified"]["intents"]["messages"] == 2
    # The fresh test set is read only when asked for by name ("all" above left it out).
    fresh = json.loads(run("eval", *args, "--json", "--split", "fresh"))
    assert fresh["simplified"]["intents"]["messages"] == 1 and fresh["simplified"]["lint"]["lines"] == 1
    fresh_block = fresh["simplified"]["lint"]["block"]
    assert fresh_block == {"precision": 1.0, "recall": 1.0, "support": 1, "flagged": 1}
    assert "== simplified: intents, fresh (1 messages)" in run("eval", *args, "--split", "fresh")

    printed = run("eval", *args, "--split", "all")
    assert "== traditional: intents" in printed and "false alarms on clean lines" in printed
    assert "worst misses" in printed and "macro-F1 gap" in printed


def test_eval_chat_without_the_data_says_where_it_goes(tmp_path):
    args, _ = _chat_fixture(tmp_path)
    args[1] = str(tmp_path / "nowhere")
    completed = subprocess.run(
        [sys.executable, "-m", "app.cli", "eval", *args], capture_output=True, text=True, cwd=ROOT
    )
    assert completed.returncode == 2
    assert "dev_chats.jsonl not found" in completed.stdout and "--data DIR" in completed.stdout
    (tmp_path / "data" / "dev_chats.jsonl").write_text("", encoding="utf-8")  # the ids are now unknown
    completed = subprocess.run(
        [sys.executable, "-m", "app.cli", "eval", *args[2:], "--data", str(tmp_path / "data"), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert completed.returncode == 2
    assert json.loads(completed.stdout)["error"]["code"] == "eval_data"
    assert "no text for" in completed.stdout


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


def test_database_commands_from_another_folder_say_which_database_and_make_none(tmp_path):
    """Run where no database is (and DATABASE_URL unset): commands that read refuse, naming the
    file they looked for, and create nothing; `keys create` makes the default file and says so."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    def huashu(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    default = (tmp_path / "data" / "huashu.db").resolve()
    for args in (("keys", "list"), ("keys", "revoke", "1"), ("db", "current"), ("corpus", "export")):
        refused = huashu(*args)
        assert refused.returncode == 2, args
        assert f"no database at {default}" in refused.stderr and "DATABASE_URL" in refused.stderr
        assert refused.stdout == ""
    assert not (tmp_path / "data").exists()

    created = huashu("keys", "create", "--role", "agent", "--name", "here")
    assert created.returncode == 0 and f"creating database sqlite:///{default}" in created.stderr
    listed = huashu("keys", "list")
    assert listed.returncode == 0 and f"using database sqlite:///{default} (the default" in listed.stderr
    assert listed.stdout.split("\t")[1] == "agent" and listed.stdout.rstrip().endswith("\there")

    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'other.db'}"
    elsewhere = huashu("keys", "list")
    assert (
        elsewhere.returncode == 2
        and f"no database at {(tmp_path / 'other.db').resolve()} (DATABASE_URL)" in elsewhere.stderr
    )
    assert not (tmp_path / "other.db").exists()


def test_real_chat_dev_split_intent_floor():
    """Regression floor on the dev split of the labelled real JD chats, each session fed in order
    with the previous message's scores as context. It guards the shipped model: 0.719 on dev
    since the 61836eb model was kept back on held-out (the 0.773 model lost 0.028 there; see
    BENCHMARKS.md, intents, acceptance)."""
    if not (SHARED / "dev_chats.jsonl").exists():
        pytest.skip(f"real chat data not found: put shared/data/ beside the checkout ({SHARED})")
    report = json.loads(run("eval", "chat", "--split", "dev", "--profile", "jd", "--misses", "0", "--json"))
    simplified, traditional = report["simplified"]["intents"], report["traditional"]["intents"]
    assert simplified["macro_f1_supported"] >= 0.71, simplified["classes"]
    assert abs(report["traditional_gap"]["macro_f1_supported"]) <= 0.01, traditional["classes"]
    # Without the conversation the same lines fall back: context is what carries the follow-ups.
    alone = json.loads(run("eval", "chat", "--split", "dev", "--no-context", "--misses", "0", "--json"))
    assert alone["simplified"]["intents"]["macro_f1_supported"] < simplified["macro_f1_supported"]
    assert (report["context"], alone["context"]) == ("follow-up", None)
    # The session-memory candidate (not the default: it did not beat follow-up on held-out)
    # keeps its dev figure (0.735), under the same rule the server runs with INTENT_CONTEXT.
    args = ("--split", "dev", "--context", "memory", "--misses", "0", "--json")
    memory = json.loads(run("eval", "chat", *args))
    assert memory["context"] == "memory" and memory["simplified"]["intents"]["macro_f1_supported"] >= 0.73


def test_train_reproduces_the_shipped_model(tmp_path):
    """The committed model is what the training files train: retraining changes no byte."""
    output = tmp_path / "model.json"
    run("train", "--output", str(output))
    assert output.read_bytes() == (ROOT / "classifiers" / "intent_model.json").read_bytes()


def test_a_candidate_model_is_trained_and_measured_apart(tmp_path):
    """train --also adds a candidate's lines; eval --model measures it; what ships is untouched."""
    shipped = (ROOT / "classifiers" / "intent_model.json").read_bytes()
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        "".join(
            json.dumps({"text": f"{opener}叽里咕噜呱{ending}", "intents": ["refund"]}, ensure_ascii=False)
            + "\n"
            for opener in ("", "亲 ", "你好 ", "请问 ", "在吗 ")
            for ending in ("", "怎么弄", "呢", "啊", "可以吗", "要多久")
        ),
        encoding="utf-8",
    )
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(json.dumps({"text": "叽里咕噜呱", "label": "refund"}, ensure_ascii=False) + "\n")
    candidate = tmp_path / "candidate.json"
    assert "trained on" in run("train", "--also", str(extra), "--c", "16", "--output", str(candidate))
    assert json.loads(run("eval", "intents", str(labelled), "--json"))["accuracy"] == 0.0
    assert (
        json.loads(run("eval", "intents", str(labelled), "--json", "--model", str(candidate)))["accuracy"]
        == 1.0
    )
    assert (ROOT / "classifiers" / "intent_model.json").read_bytes() == shipped


def test_train_refuses_a_bad_extra_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "退款", "intents": ["refunds"]}\n', encoding="utf-8")
    for path in (bad, tmp_path / "missing.jsonl"):
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "train",
                "--also",
                str(path),
                "--output",
                str(tmp_path / "m.json"),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert completed.returncode == 2 and "cannot read --also" in completed.stdout
        assert not (tmp_path / "m.json").exists()
