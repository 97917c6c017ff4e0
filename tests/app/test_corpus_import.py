"""Import and export of the whole corpus (on SQLite and PostgreSQL): formats, the dry run,
all-or-nothing, bad files, size, duplicates and an import racing an edit."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid

import pytest
import yaml
from sqlmodel import Session, func, select

from app import store
from tests.helpers import bearer


@pytest.fixture()
def editor(keys):
    return bearer(keys["editor"])


@pytest.fixture()
def database(settings):
    database = store.connect(settings.database_url)
    yield database
    database.dispose()


def _counts(database) -> tuple[int, int, int, int]:
    with Session(database) as session:
        return (
            session.exec(select(func.count()).select_from(store.ReplyRow)).one(),
            session.exec(select(func.sum(store.ReplyRow.version))).one(),
            session.exec(select(func.count()).select_from(store.CorpusHistory)).one(),
            store.corpus_version(session),
        )


def _import(client, editor, body: str | bytes, media: str, dry_run: bool):
    return client.post(
        f"/v1/corpus/import?dry_run={str(dry_run).lower()}",
        content=body.encode() if isinstance(body, str) else body,
        headers={**editor, "Content-Type": media},
    )


def _uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.mark.parametrize("fmt", ["yaml", "json", "csv"])
def test_export_has_every_reply_shaped_as_the_corpus(client, editor, fmt):
    response = client.get(f"/v1/corpus/export?format={fmt}", headers=editor)
    assert response.status_code == 200
    assert f"huashu-corpus.{fmt}" in response.headers["content-disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(response.text)))
        row = next(r for r in rows if r["id"] == "bargain-quality-service")
        assert row["intents"] == "bargaining" and "|" in row["triggers"]
        return
    document = yaml.safe_load(response.text) if fmt == "yaml" else json.loads(response.text)
    reply = next(r for r in document["replies"] if r["id"] == "bargain-quality-service")
    assert set(reply) == {
        "id",
        "status",
        "shop_id",
        "intents",
        "text",
        "triggers",
        "tags",
        "slots",
        "version",
    }
    assert reply["intents"] == ["bargaining"] and reply["triggers"][0] == "能便宜点吗"
    rule = next(r for r in document["lint_rules"] if r["id"] == "uncertain-guess")
    assert rule["severity"] == "block" and "可能吧" in rule["phrases"] and rule["enabled"] is True


def test_a_round_trip_changes_nothing(client, editor, database):
    exported = client.get("/v1/corpus/export?format=yaml", headers=editor).text
    before = _counts(database)
    report = _import(client, editor, exported, "application/yaml", dry_run=False)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["created"] == body["changed"] == body["retired"] == body["refused"] == []
    assert body["unchanged"] >= 80
    assert _counts(database)[:3] == before[:3]


@pytest.mark.parametrize("media", ["application/yaml", "application/json", "text/csv"])
def test_dry_run_reports_and_changes_nothing_then_the_real_run_applies(client, editor, database, media):
    new_id, uid = f"imp-{_uid()}", _uid()
    changed = client.get("/v1/replies/bargain-quality-service", headers=editor).json()
    old = {"id": f"imp-old-{uid}", "intents": ["refund"], "text": "亲，退款已经为您处理啦", "status": "draft"}
    retired = client.post("/v1/replies", headers=editor, json=old).json()
    items = [
        {"id": new_id, "intents": ["logistics"], "text": f"亲，今天就发货哦{uid}", "triggers": ["今天发吗"]},
        {**changed, "tags": [*changed["tags"], f"imported-{uid}"]},
        {**retired, "status": "retired"},
    ]
    body = _serialize(items, media)
    before = _counts(database)
    dry = _import(client, editor, body, media, dry_run=True)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] is True and report["applied"] is False
    assert [i["id"] for i in report["created"]] == [new_id]
    assert [c["id"] for c in report["changed"]] == ["bargain-quality-service"]
    assert report["changed"][0]["diff"] == {
        "tags": {"from": changed["tags"], "to": [*changed["tags"], f"imported-{uid}"]}
    }
    assert [r["id"] for r in report["retired"]] == [retired["id"]]
    assert report["refused"] == []
    if media != "application/json":
        assert report["created"][0]["line"] == (2 if media == "text/csv" else 2)
    assert _counts(database) == before  # checked in the database: nothing written, not even the version
    assert client.get(f"/v1/replies/{new_id}", headers=editor).status_code == 404

    applied = _import(client, editor, body, media, dry_run=False)
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    assert client.get(f"/v1/replies/{new_id}", headers=editor).json()["status"] == "approved"
    assert client.get(f"/v1/replies/{retired['id']}", headers=editor).json()["status"] == "retired"
    now = client.get("/v1/replies/bargain-quality-service", headers=editor).json()
    assert f"imported-{uid}" in now["tags"] and now["version"] == changed["version"] + 1
    # Served at once on this worker: a buyer message finds the new reply.
    texts = [
        s["text"]
        for s in client.post("/v1/suggest", json={"text": "今天发吗", "k": 10}, headers=editor).json()[
            "suggestions"
        ]
    ]
    assert f"亲，今天就发货哦{uid}" in texts
    # History and audit name the import's key.
    assert client.get(f"/v1/replies/{new_id}/history", headers=editor).json()[0]["actor"] == "test-editor"


def _serialize(items: list[dict], media: str, rules: list[dict] | None = None) -> str:
    if media == "application/json":
        return json.dumps({"replies": items, "lint_rules": rules or []}, ensure_ascii=False)
    if media == "application/yaml":
        return yaml.safe_dump(
            {"replies": items, "lint_rules": rules or []}, allow_unicode=True, sort_keys=False
        )
    out = io.StringIO()
    fields = ["id", "status", "shop_id", "intents", "text", "triggers", "tags", "slots", "version"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for item in items:
        row = {name: item.get(name, "") for name in fields}
        for name in ("intents", "triggers", "tags"):
            row[name] = "|".join(item.get(name, []))
        row["slots"] = json.dumps(item["slots"], ensure_ascii=False) if item.get("slots") else ""
        row["shop_id"] = item.get("shop_id") or ""
        row["status"] = item.get("status") or ""
        row["version"] = item.get("version") or ""
        writer.writerow(row)
    return out.getvalue()


@pytest.mark.parametrize(
    ("media", "body", "line"),
    [
        ("application/yaml", "replies:\n  - id: a\n    text: [unclosed\n  - id: b\n", 4),
        ("application/json", '{"replies": [\n{"id": "a",\n "text": }\n]}', 3),
        ("text/csv", 'id,intents,text\nok-1,refund,"亲，好的\nok-2,refund,亲\n', 2),
        ("text/csv", "id,intents,text\nok-1,refund,亲好的,extra\n", 2),
        ("text/csv", "id,text\nok-1,亲\n", 1),
        ("application/yaml", "just a string", 1),
    ],
)
def test_a_malformed_file_names_its_line_and_applies_nothing(client, editor, database, media, body, line):
    before = _counts(database)
    for dry_run in (True, False):
        response = _import(client, editor, body, media, dry_run)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "malformed_import" and error["detail"]["line"] == line, error
    assert _counts(database) == before


def test_refused_items_are_listed_line_by_line_and_nothing_is_applied(client, editor, database):
    uid = _uid()
    document = (
        "replies:\n"
        f"  - id: ok-{uid}\n    intents: [refund]\n    text: 亲，退款马上为您处理\n"
        f"  - id: banned-{uid}\n    intents: [refund]\n    text: 可能吧\n"
        f"  - id: ok-{uid}\n    intents: [refund]\n    text: 亲，又一条\n"
        f"  - id: bad-{uid}\n    intents: [nonsense]\n    text: 亲\n"
        "lint_rules:\n"
        f"  - id: blocks-{uid}\n    category: blunt\n    severity: block\n"
        "    phrases: [亲]\n    suggestion: 别这么说\n"
    )
    before = _counts(database)
    report = _import(client, editor, document, "application/yaml", dry_run=True).json()
    refused = {(r["id"], r["code"], r["line"]) for r in report["refused"]}
    assert refused == {
        (f"banned-{uid}", "reply_fails_lint", 5),
        (f"ok-{uid}", "duplicate_id", 8),
        (f"bad-{uid}", "invalid_request", 11),
        (f"blocks-{uid}", "rule_blocks_approved_replies", 15),
    }
    assert [c["id"] for c in report["created"]] == [f"ok-{uid}"]  # the first of the two
    real = _import(client, editor, document, "application/yaml", dry_run=False)
    assert real.status_code == 422 and real.json()["error"]["code"] == "import_refused"
    assert len(real.json()["error"]["detail"]["refused"]) == 4
    assert _counts(database) == before
    assert client.get(f"/v1/replies/ok-{uid}", headers=editor).status_code == 404


def test_format_from_the_query_and_unknown_types(client, editor):
    body = json.dumps({"replies": []})
    ok = client.post(
        "/v1/corpus/import?format=json", content=body, headers={**editor, "Content-Type": "text/plain"}
    )
    assert ok.status_code == 200 and ok.json()["dry_run"] is True
    unknown = client.post("/v1/corpus/import", content=body, headers={**editor, "Content-Type": "text/plain"})
    assert unknown.status_code == 415 and unknown.json()["error"]["code"] == "unsupported_media_type"
    agent = client.post(
        "/v1/corpus/import", content=body, headers={**bearer("hs_x"), "Content-Type": "application/json"}
    )
    assert agent.status_code == 401


def test_a_50_mb_upload_is_refused_and_nothing_applied(client, editor, database):
    before = _counts(database)
    line = "  - {id: big, intents: [refund], text: 亲}\n"
    body = ("replies:\n" + line * (50 * 1024 * 1024 // len(line.encode()) + 1)).encode()
    assert len(body) > 50 * 1024 * 1024
    response = _import(client, editor, body, "application/yaml", dry_run=False)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the route counts as it reads
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    streamed = client.post("/v1/corpus/import?dry_run=false", content=chunks(),
                           headers={**editor, "Content-Type": "application/yaml"})  # fmt: skip
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"
    assert _counts(database) == before


def test_a_stale_file_is_refused(client, editor, database):
    reply = client.get("/v1/replies/bargain-same-discount-for-all", headers=editor).json()
    exported = {**reply, "tags": [*reply["tags"], "from-file"]}
    saved = client.patch(
        f"/v1/replies/{reply['id']}", json={"version": reply["version"], "tags": ["edited"]}, headers=editor
    )
    assert saved.status_code == 200
    report = _import(client, editor, json.dumps({"replies": [exported]}), "application/json", dry_run=False)
    assert report.status_code == 422
    assert [r["code"] for r in report.json()["error"]["detail"]["refused"]] == ["stale_edit"]
    assert client.get(f"/v1/replies/{reply['id']}", headers=editor).json()["tags"] == ["edited"]


def test_an_import_racing_an_edit_of_the_same_reply(client, editor):
    """Both start from the same version; exactly one lands, the other is told it is stale."""
    draft = {"id": f"race-{_uid()}", "intents": ["refund"], "text": "亲，退款已提交", "status": "draft"}
    created = client.post("/v1/replies", headers=editor, json=draft).json()
    path = f"/v1/replies/{created['id']}"
    file = json.dumps({"replies": [{**created, "text": "亲，退款已提交（导入）"}]})
    results: dict[str, int] = {}
    start = threading.Barrier(2)

    def do_import():
        start.wait()
        results["import"] = _import(client, editor, file, "application/json", dry_run=False).status_code

    def do_edit():
        start.wait()
        results["edit"] = client.patch(
            path, json={"version": 1, "text": "亲，退款已提交（编辑）"}, headers=editor
        ).status_code

    threads = [threading.Thread(target=do_import), threading.Thread(target=do_edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) in ([200, 409], [200, 422]), results
    final = client.get(path, headers=editor).json()
    assert final["version"] == 2
    winner = "import" if results["import"] == 200 else "edit"
    assert final["text"] == ("亲，退款已提交（导入）" if winner == "import" else "亲，退款已提交（编辑）")
    assert [v["version"] for v in client.get(f"{path}/history", headers=editor).json()] == [1, 2]


def test_ten_thousand_replies_import_in_seconds(client, editor, database):
    uid = _uid()
    items = [
        {"id": f"bulk-{uid}-{n}", "intents": ["logistics"], "text": f"亲，第{n}号仓今天发货哦",
         "triggers": [f"{n}号仓什么时候发货", "今天能发货吗"], "tags": ["bulk"]}
        for n in range(10_000)
    ]  # fmt: skip
    body = json.dumps({"replies": items}, ensure_ascii=False)
    started = time.perf_counter()
    dry = _import(client, editor, body, "application/json", dry_run=True)
    dry_s = time.perf_counter() - started
    assert dry.status_code == 200 and len(dry.json()["created"]) == 10_000
    started = time.perf_counter()
    applied = _import(client, editor, body, "application/json", dry_run=False)
    applied_s = time.perf_counter() - started
    assert applied.status_code == 200, applied.text
    print(f"10,000 replies: dry run {dry_s:.2f} s, import {applied_s:.2f} s")
    assert dry_s < 30 and applied_s < 90  # a busy 2-core machine; measured figures in the README
    with Session(database) as session:
        assert len(store.all_reply_rows(session, status="approved", shop_id=None)) >= 10_000
    retire = [{**item, "status": "retired"} for item in items]
    assert (
        _import(
            client, editor, json.dumps({"replies": retire}), "application/json", dry_run=False
        ).status_code
        == 200
    )


# The studio uploads the file as multipart/form-data.


def _upload(client, editor, files, dry_run: bool, query: str = "", **kwargs):
    return client.post(f"/v1/corpus/import?dry_run={str(dry_run).lower()}{query}", files=files,
                       headers=editor, **kwargs)  # fmt: skip


@pytest.mark.parametrize(
    "filename, part_type, query, media",
    [
        ("corpus.yaml", "application/yaml", "", "application/yaml"),
        ("corpus.csv", "application/octet-stream", "", "text/csv"),  # the file name says CSV
        ("corpus.json", "application/json", "", "application/json"),
        ("export", "application/octet-stream", "&format=json", "application/json"),
    ],
)
def test_a_multipart_upload_is_a_dry_run_then_applied(
    client, editor, database, filename, part_type, query, media
):
    new_id = f"upl-{_uid()}"
    body = _serialize([{"id": new_id, "intents": ["refund"], "text": "亲，退款马上为您处理哦"}], media)
    files = {"file": (filename, body.encode(), part_type)}
    before = _counts(database)
    dry = _upload(client, editor, files, dry_run=True, query=query)
    assert dry.status_code == 200, dry.text
    assert [i["id"] for i in dry.json()["created"]] == [new_id] and _counts(database) == before
    applied = _upload(client, editor, files, dry_run=False, query=query)
    assert applied.status_code == 200 and applied.json()["applied"] is True
    assert client.get(f"/v1/replies/{new_id}", headers=editor).json()["text"] == "亲，退款马上为您处理哦"


def test_bad_multipart_uploads_are_refused_and_nothing_applied(client, editor, database):
    before = _counts(database)
    item = json.dumps({"replies": [{"id": f"upl-{_uid()}", "intents": ["refund"], "text": "亲"}]}).encode()
    no_format = _upload(
        client, editor, {"file": ("corpus.txt", item, "application/octet-stream")}, dry_run=False
    )
    assert no_format.status_code == 415 and no_format.json()["error"]["code"] == "unsupported_media_type"
    both = [("a", ("a.json", item, "application/json")), ("b", ("b.json", item, "application/json"))]
    two = _upload(client, editor, both, dry_run=False)
    assert two.status_code == 422 and two.json()["error"]["code"] == "invalid_request"
    no_file = _upload(client, editor, None, dry_run=False, data={"note": "nothing"})
    assert no_file.status_code in (415, 422)  # a urlencoded form is not a corpus file either
    boundary = "XyZ"
    truncated = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.json"\r\n\r\n'.encode()
        + item
    )
    for content_type, content in (
        (f"multipart/form-data; boundary={boundary}", truncated),  # never closed
        ("multipart/form-data", truncated),  # no boundary
        (f"multipart/form-data; boundary={boundary}", b"garbage with no boundary at all"),
    ):
        response = client.post("/v1/corpus/import?dry_run=false", content=content,
                               headers={**editor, "Content-Type": content_type})  # fmt: skip
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "malformed_import"
    unclosed = {"file": ("c.yaml", b"replies:\n  - id: [unclosed\n", "application/yaml")}
    malformed = _upload(client, editor, unclosed, dry_run=False)
    raw = _import(client, editor, unclosed["file"][1], "application/yaml", dry_run=False)
    assert malformed.status_code == 422 and malformed.json() == raw.json()  # the same line as the file alone
    assert malformed.json()["error"]["detail"]["line"] == 3
    assert _counts(database) == before


def test_a_50_mb_multipart_upload_is_refused_and_nothing_applied(client, editor, database):
    before = _counts(database)
    line = "  - {id: big, intents: [refund], text: 亲}\n"
    file = ("replies:\n" + line * (50 * 1024 * 1024 // len(line.encode()) + 1)).encode()
    response = _upload(client, editor, {"file": ("big.yaml", file, "application/yaml")}, dry_run=False)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.yaml"\r\n\r\n'.encode()
    )
    body = head + file + f"\r\n--{boundary}--\r\n".encode()

    def chunks():  # no Content-Length: the route counts as it reads
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    form = {**editor, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    streamed = client.post("/v1/corpus/import?dry_run=false", content=chunks(), headers=form)
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"
    assert _counts(database) == before


def test_a_large_import_racing_an_edit_has_one_winner_and_applies_all_or_nothing(client, editor, database):
    """2,000 replies written in bulk against one edit of one of them, both from version 1:
    either the import lands whole and the edit is stale, or the edit lands and none of the
    import does."""
    uid = _uid()
    items = [{"id": f"race-bulk-{uid}-{n}", "intents": ["refund"], "text": f"亲，第{n}单退款已提交",
              "status": "draft"} for n in range(2000)]  # fmt: skip
    first = _import(client, editor, json.dumps({"replies": items}), "application/json", dry_run=False)
    assert first.status_code == 200 and len(first.json()["created"]) == 2000
    target = f"/v1/replies/{items[1234]['id']}"
    file = json.dumps(
        {"replies": [{**item, "version": 1, "text": item["text"] + "（导入）"} for item in items]}
    )
    results: dict[str, int] = {}
    start = threading.Barrier(2)

    def do_import():
        start.wait()
        results["import"] = _import(client, editor, file, "application/json", dry_run=False).status_code

    def do_edit():
        start.wait()
        results["edit"] = client.patch(target, json={"version": 1, "text": "亲，退款已提交（编辑）"},
                                       headers=editor).status_code  # fmt: skip

    threads = [threading.Thread(target=do_import), threading.Thread(target=do_edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(database) as session:
        rows = store.reply_rows_by_id(session, ids=[item["id"] for item in items])
    imported = [row for row in rows.values() if row.text.endswith("（导入）")]
    if results["import"] == 200:
        assert results["edit"] == 409 and len(imported) == 2000
        assert all(row.version == 2 for row in rows.values())
    else:
        assert (results["import"], results["edit"]) == (422, 200) and imported == []
        assert rows[items[1234]["id"]].text == "亲，退款已提交（编辑）"
        assert sorted(row.version for row in rows.values()) == [1] * 1999 + [2]
    history = client.get(f"{target}/history", headers=editor).json()
    assert [v["version"] for v in history] == [1, 2]


def test_a_bulk_write_that_finds_a_newer_version_writes_nothing(client, editor, database, engine):
    """The store's bulk write checks every update's version itself (the corpus lock makes a
    mismatch rare, never silent): one stale reply rolls the whole batch back."""
    from classifiers import Reply

    uid = _uid()
    replies = [Reply(id=f"bulk-stale-{uid}-{n}", intents=("refund",), text=f"亲，第{n}单") for n in range(3)]
    for reply in replies:
        client.post(
            "/v1/replies", headers=editor, json={"id": reply.id, "intents": ["refund"], "text": reply.text}
        )
    before = _counts(database)
    writes = [
        store.ReplyWrite(
            Reply(id=r.id, intents=r.intents, text=r.text + "改"), engine.analyze_reply(r), "approved", 1
        )
        for r in replies
    ]
    writes[1] = writes[1]._replace(expected_version=7)  # the database has 1
    with (
        Session(database) as session,
        pytest.raises(LookupError),
        store.corpus_change(session, replies_changed=True) as version,
    ):
        stale = store.write_replies(session, writes=writes, analyzer="x", actor="t", changed_in=version)
        assert stale == [replies[1].id]
        raise LookupError  # as the import does: the change is rolled back
    assert _counts(database) == before
    for reply in replies:
        assert client.get(f"/v1/replies/{reply.id}", headers=editor).json()["text"] == reply.text


@pytest.mark.parametrize("media", ["application/yaml", "application/json", "text/csv"])
def test_control_characters_and_huge_versions_in_a_file_are_refused_item_by_item(
    client, editor, database, media
):
    """A corpus file is streamed past the edge's JSON check, so its items are checked: a NUL
    (which PostgreSQL refuses: it was a 500) or a version no database integer holds is a
    refused item, and nothing is applied."""
    first, second = f"nul-{_uid()}", f"big-{_uid()}"
    items = [
        {"id": first, "text": "亲，好的\x00", "intents": ["other"]},
        {"id": second, "text": "亲，好的呀", "intents": ["other"], "version": 10**20},
    ]
    if media == "text/csv":  # CSV has no version column to overflow, and NUL only in a field
        items = items[:1]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "text", "intents"])
        writer.writerows([item["id"], item["text"], "other"] for item in items)
        body: str = out.getvalue()
    elif media == "application/json":
        body = json.dumps({"replies": items})
    else:
        body = yaml.safe_dump({"replies": items}, allow_unicode=True)
    before = _counts(database)
    response = _import(client, editor, body, media, dry_run=False)
    assert response.status_code == 422, response.text
    report = response.json()["error"]
    assert report["code"] == "import_refused"
    refused = {item["id"]: item["code"] for item in report["detail"]["refused"]}
    expected = {first: "control_character", second: "invalid_request"}
    assert refused == {item["id"]: expected[item["id"]] for item in items}
    assert _counts(database) == before
