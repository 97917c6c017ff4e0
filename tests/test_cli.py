import json
import subprocess
import sys

from tests.conftest import ROOT


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


def test_eval_commands():
    report = json.loads(run("eval", "intents", "eval/dev_labels.jsonl", "--json"))
    assert set(report["classes"]) == {"bargaining", "hesitation", "logistics", "refund", "other"}
    assert 0 <= report["macro_f1"] <= 1 and len(report["confusion"]) == 5
    text = run("eval", "lint", "eval/lint_cases.jsonl")
    assert "precision" in text and "confusion" in text
    assert "hit@3" in run("eval", "rank", "eval/rank_cases.jsonl")
