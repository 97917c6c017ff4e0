"""Two workers on one database share everything a buyer or editor would notice:
conversation context, feedback, and corpus changes. Each worker here is a whole app
(its own engine, index, caches) — the only way state can cross is the database."""

import time
from functools import partial

import pytest
from sqlmodel import Session, select

from app import auth, store
from app.context import ConversationContext
from classifiers import Intent, Reply
from classifiers.engine import analyzer_version
from tests.helpers import approve_directly, bearer, fresh_database

NEW_TRIGGER = "两件一起拍能不能多送一个赠品"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def workers(request, tmp_path_factory):
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    with fresh_database(request.param, tmp_path_factory) as url:
        settings = Settings(
            database_url=url,
            cache_dir=tmp_path_factory.mktemp("cache"),
            key_cache_ttl_s=0,
            sync_interval_s=0.05,
            exact_rebuild_after_s=0.3,
        )
        with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
            database = store.connect(url)
            keys = {role: auth.create_key(database, name=role, role=auth.Role(role))[0] for role in auth.Role}
            yield {"a": first, "b": second, "keys": keys, "database": database}
            database.dispose()


def _wait_for(check, timeout: float = 5.0):
    """Polls ``check`` until it returns something truthy; the sync interval here is 0.05 s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def test_context_follows_the_conversation_across_workers(workers):
    agent = bearer(workers["keys"]["agent"])
    workers["a"].post("/v1/suggest", json={"text": "能便宜点吗", "conversation_id": "x1"}, headers=agent)
    time.sleep(3 * ConversationContext.FLUSH_S)  # the first worker writes turns behind, in batches
    follow_up = workers["b"].post(
        "/v1/suggest", json={"text": "那多少呢", "conversation_id": "x1"}, headers=agent
    )
    assert follow_up.json()["intent"] == "bargaining"
    # Without the first message it is not bargaining, so the context came from the database.
    alone = workers["b"].post(
        "/v1/suggest", json={"text": "那多少呢", "conversation_id": "x2"}, headers=agent
    )
    assert alone.json()["intent"] == "other"


def test_feedback_on_one_worker_lifts_the_reply_on_the_other(workers):
    agent = bearer(workers["keys"]["agent"])
    message = {"text": "快递一般几天能到", "k": 3}
    third = workers["b"].post("/v1/suggest", json=message, headers=agent).json()["suggestions"][2]
    for _ in range(20):
        event = {"reply_id": third["reply_id"], "intent": third["intent"], "action": "used"}
        assert workers["a"].post("/v1/feedback", json=event, headers=agent).status_code == 204

    def lifted():
        after = workers["b"].post("/v1/suggest", json=message, headers=agent).json()["suggestions"]
        return next(
            (s for s in after if s["reply_id"] == third["reply_id"] and s["score"] > third["score"]), None
        )

    assert _wait_for(lifted)


def test_a_new_reply_reaches_the_other_worker(workers):
    editor, agent = bearer(workers["keys"]["editor"]), bearer(workers["keys"]["agent"])
    intent = workers["b"].post("/v1/suggest", json={"text": NEW_TRIGGER}, headers=agent).json()["intent"]
    reply = {
        "id": "two-items-gift",
        "text": "亲，两件一起拍的话我帮您申请多送一份小赠品，您拍下后告诉我一声哦～",
        "intents": [intent],
        "triggers": [NEW_TRIGGER],
    }
    before = workers["b"].get("/readyz").json()
    changed_at = time.time()
    created = workers["a"].post("/v1/replies", json=reply, headers=editor)
    assert created.status_code == 201 and created.json()["version"] == 1

    def suggested():
        answer = workers["b"].post("/v1/suggest", json={"text": NEW_TRIGGER}, headers=agent).json()
        return [s["reply_id"] for s in answer["suggestions"]][:1] == ["two-items-gift"]

    assert _wait_for(suggested)
    after = workers["b"].get("/readyz").json()
    assert after["corpus_version"] == workers["a"].get("/readyz").json()["corpus_version"]
    # The other worker says when it swapped the new corpus in (what the benchmark times).
    assert after["corpus_version"] > before["corpus_version"]
    assert before["corpus_loaded_at"] < changed_at <= after["corpus_loaded_at"] < time.time()

    # Stored with its analysis, so no worker runs jieba over it again.
    with Session(workers["database"]) as session:
        row = store.reply_row(session, reply_id="two-items-gift")
        assert row.analyzer == analyzer_version() and row.analysis["triggers"]

    # Retired on the second worker: the first stops suggesting it.
    retired = workers["b"].delete("/v1/replies/two-items-gift?version=1", headers=editor)
    assert retired.status_code == 200 and retired.json()["status"] == "retired"

    def gone():
        answer = workers["a"].post("/v1/suggest", json={"text": NEW_TRIGGER}, headers=agent).json()
        return "two-items-gift" not in [s["reply_id"] for s in answer["suggestions"]]

    assert _wait_for(gone)


def _refuse_full_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("read the whole corpus for one changed reply")

    monkeypatch.setattr(store, "load_corpus", refuse)


def _syncs(workers):
    return [workers[name].app.state.sync for name in ("a", "b")]


def _suggested_ids(client, text, agent):
    answer = client.post("/v1/suggest", json={"text": text, "k": 5}, headers=agent).json()
    return [s["reply_id"] for s in answer["suggestions"]]


def _serves(client, reply_id, text, agent):
    return reply_id in _suggested_ids(client, text, agent)


def _add_bargaining_reply(client, editor: dict, reply_id: str, text: str, trigger: str) -> dict:
    """An approved bargaining reply with one trigger, added through ``client``'s worker."""
    reply = {"id": reply_id, "text": text, "intents": ["bargaining"], "triggers": [trigger]}
    assert client.post("/v1/replies", json=reply, headers=editor).status_code == 201
    return reply


def test_a_reply_change_is_patched_in_then_rebuilt_exactly(workers, monkeypatch, tmp_path):
    from app.index_cache import build_engine

    editor, agent = bearer(workers["keys"]["editor"]), bearer(workers["keys"]["agent"])
    assert _wait_for(lambda: all(sync.patched_at is None for sync in _syncs(workers)), timeout=30)
    for sync in _syncs(workers):
        monkeypatch.setattr(sync, "exact_after", 3600.0)  # until the patch is seen
    _refuse_full_loads(monkeypatch)
    reply = _add_bargaining_reply(
        workers["a"], editor, "patched-gift", "亲，满两件我帮您备注多送一份小样哦～", "满两件能多送一份小样吗"
    )
    # Both workers answer with it without reading the corpus: the change was patched in.
    assert "patched-gift" in _suggested_ids(workers["a"], reply["triggers"][0], agent)
    assert _wait_for(lambda: "patched-gift" in _suggested_ids(workers["b"], reply["triggers"][0], agent))
    assert all(sync.patched_at is not None for sync in _syncs(workers))

    # Once the corpus is quiet, each worker rebuilds exactly: the answers of a fresh start.
    monkeypatch.undo()
    assert _wait_for(lambda: all(sync.patched_at is None for sync in _syncs(workers)), timeout=30)
    fresh = build_engine(workers["database"], workers["b"].app.state.assistant.engine, tmp_path).engine
    for text in (reply["triggers"][0], "能便宜点吗", "什么时候发货", "我想退货", "再考虑一下"):
        expected = [s.reply_id for s in fresh.suggest(text, k=5)[1]]
        assert _suggested_ids(workers["b"], text, agent) == expected
    assert workers["a"].delete("/v1/replies/patched-gift?version=1", headers=editor).status_code == 200
    assert _wait_for(lambda: "patched-gift" not in _suggested_ids(workers["b"], reply["triggers"][0], agent))


def test_a_change_during_an_exact_rebuild_is_not_lost(workers, monkeypatch):
    from app import sync as sync_module

    sync = workers["b"].app.state.sync
    # This test runs the rebuild itself. Worker a's timer is held too: the patched
    # ``load_saved`` is module-wide, and a rebuild of a's own would run it first.
    for each in _syncs(workers):
        monkeypatch.setattr(each, "exact_after", 3600.0)
    assert _wait_for(
        lambda: all(s._rebuilding is None or s._rebuilding.done() for s in _syncs(workers)),
        timeout=30,
    )
    trigger = "今天下单明天能送到家吗"
    real_load = sync_module.load_saved

    def build_then_change(*args, **kwargs):
        built = real_load(*args, **kwargs)  # the corpus as the rebuild's child saw it
        late = Reply(
            id="late-reply", intents=(Intent.LOGISTICS,), text="亲，明天就能送到哦", triggers=(trigger,)
        )
        approve_directly(workers["database"], sync.assistant.engine, late)
        # The worker's polls go on during the rebuild and patch the new reply in.
        assert _wait_for(
            lambda: "late-reply" in [s.reply_id for s in sync.assistant.engine.suggest(trigger)[1]]
        )
        return built

    monkeypatch.setattr(sync_module, "load_saved", build_then_change)
    sync.rebuild()
    with Session(workers["database"]) as session:
        assert sync.assistant.corpus_version == store.corpus_version(session)
    assert "late-reply" in [s.reply_id for s in sync.assistant.engine.suggest(trigger)[1]]
    assert sync.patched_at is not None  # the late reply was patched onto the exact build


def test_more_changes_than_a_patch_takes_are_rebuilt_in_a_child(workers, monkeypatch):
    """An import past PATCH_LIMIT rebuilds the whole index; for a large corpus a spawned child
    reads the rows (it does not see this monkeypatch) and each worker loads its file."""
    from app import sync as sync_module

    editor, agent = bearer(workers["keys"]["editor"]), bearer(workers["keys"]["agent"])
    monkeypatch.setattr(sync_module, "PATCH_LIMIT", 0)
    for sync in _syncs(workers):
        monkeypatch.setattr(sync.assistant.settings, "build_in_child_from", 1)
    _refuse_full_loads(monkeypatch)
    reply = _add_bargaining_reply(
        workers["a"],
        editor,
        "imported-gift",
        "亲，拍下后联系客服备注，给您加送一份试用装哦～",
        "能不能加送一份试用装",
    )
    for client in (workers["a"], workers["b"]):
        assert _wait_for(partial(_serves, client, "imported-gift", reply["triggers"][0], agent), timeout=30)
    assert all(sync.patched_at is None for sync in _syncs(workers))  # exact, not patched
    monkeypatch.undo()
    assert workers["a"].delete("/v1/replies/imported-gift?version=1", headers=editor).status_code == 200


def test_stale_edit_is_refused_and_nothing_is_lost(workers):
    editor = bearer(workers["keys"]["editor"])
    original = workers["a"].get("/v1/replies/bargain-quality-service", headers=editor).json()
    first = {**original, "text": original["text"] + "（已更新）"}
    saved = workers["a"].put("/v1/replies/bargain-quality-service", json=first, headers=editor)
    assert saved.status_code == 200 and saved.json()["version"] == original["version"] + 1
    # A second editor still holding the old version.
    second = {**original, "text": "亲，这是另一个人的改动～"}
    stale = workers["b"].put("/v1/replies/bargain-quality-service", json=second, headers=editor)
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "stale_edit" and error["detail"]["current"]["text"] == first["text"]
    assert (
        workers["b"].get("/v1/replies/bargain-quality-service", headers=editor).json()["text"]
        == first["text"]
    )
    with Session(workers["database"]) as session:
        audit = session.exec(
            select(store.AuditLog).where(store.AuditLog.target == "bargain-quality-service")
        ).all()
    assert [entry.action for entry in audit] == ["update_reply"] and audit[0].actor == "editor"


OK = "好的亲"
RULE = {
    "category": "deflecting",
    "severity": "block",
    "suggestion": "亲，这个问题我来帮您跟进处理，请放心哦～",
    "phrases": ["不归我们管", "不关我们的事"],
}
DEFLECTING = "快递慢这个不归我们管哦"
BAD_EDITS = [
    ("post", "/v1/replies", {"id": "x", "text": "可能吧", "intents": ["refund"]}, 422, "reply_fails_lint"),
    ("post", "/v1/replies", {"id": "refund-progress", "text": OK, "intents": ["other"]}, 409, "reply_exists"),
    ("post", "/v1/replies", {"id": "bad id!", "text": OK, "intents": ["other"]}, 422, "invalid_request"),
    ("post", "/v1/replies", {"id": "y", "text": OK, "intents": ["nonsense"]}, 422, "invalid_request"),
    ("put", "/v1/replies/nope", {"text": OK, "intents": ["other"], "version": 1}, 404, "unknown_reply"),
    ("put", "/v1/replies/refund-progress", {"text": OK, "intents": ["refund"]}, 422, "invalid_request"),
    ("delete", "/v1/replies/refund-progress?version=99", None, 409, "stale_edit"),
    ("get", "/v1/replies/nope", None, 404, "unknown_reply"),
    ("post", "/v1/lint-rules", {**RULE, "id": "r1", "phrases": ["！！", "😀"]}, 422, "invalid_rule"),
    ("post", "/v1/lint-rules", {**RULE, "id": "r2", "kind": "single_character"}, 422, "invalid_rule"),
    ("post", "/v1/lint-rules", {**RULE, "id": "r3", "phrases": []}, 422, "invalid_rule"),
    ("post", "/v1/lint-rules", {**RULE, "id": "r4", "phrases": ["亲"]}, 422, "rule_blocks_approved_replies"),
    ("post", "/v1/lint-rules", {**RULE, "id": "uncertain-guess"}, 409, "rule_exists"),
    ("post", "/v1/lint-rules", {**RULE, "id": "r5", "severity": "fatal"}, 422, "invalid_request"),
    ("post", "/v1/lint-rules", {**RULE, "id": "bad id!"}, 422, "invalid_request"),
    ("put", "/v1/lint-rules/nope", {**RULE, "version": 1}, 404, "unknown_rule"),
    ("put", "/v1/lint-rules/uncertain-guess", RULE, 422, "invalid_request"),
    ("delete", "/v1/lint-rules/uncertain-guess?version=99", None, 409, "stale_edit"),
    ("get", "/v1/lint-rules/nope", None, 404, "unknown_rule"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD_EDITS)
def test_bad_edits_get_typed_errors(workers, method, path, body, status, code):
    editor = bearer(workers["keys"]["editor"])
    kwargs = {"json": body} if body is not None else {}
    response = getattr(workers["a"], method)(path, headers=editor, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_agents_may_not_edit(workers):
    agent = bearer(workers["keys"]["agent"])
    body = {"id": "z", "text": OK, "intents": ["other"]}
    assert workers["a"].post("/v1/replies", json=body, headers=agent).status_code == 403
    assert workers["a"].get("/v1/replies", headers=agent).status_code == 403
    assert workers["a"].post("/v1/lint-rules", json={**RULE, "id": "z"}, headers=agent).status_code == 403
    assert workers["a"].get("/v1/lint-rules", headers=agent).status_code == 403


def test_a_new_lint_rule_reaches_the_other_worker(workers):
    editor, agent = bearer(workers["keys"]["editor"]), bearer(workers["keys"]["agent"])

    def flags(worker: str, draft: str = DEFLECTING) -> list[str]:
        answer = workers[worker].post("/v1/lint", json={"text": draft}, headers=agent).json()
        return [flag["rule_id"] for flag in answer["flags"]]

    # The built-in deflect-to-others rule may flag the draft too; the editor's rule is what is new.
    assert "deflecting" not in flags("b")
    created = workers["a"].post("/v1/lint-rules", json={**RULE, "id": "deflecting"}, headers=editor)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.json()["enabled"] is True
    assert "deflecting" in flags("a")  # the editor's own worker applies it before answering
    assert _wait_for(lambda: "deflecting" in flags("b"))
    # Matched like every rule: spaces, punctuation and Traditional characters hide nothing.
    assert "deflecting" in flags("b", "這個 不關我們的事！")
    answer = workers["b"].post("/v1/lint", json={"text": DEFLECTING}, headers=agent).json()
    assert answer["ok"] is False and answer["flags"][0]["suggestion"] == RULE["suggestion"]

    # Softened to a warning by one editor; a second editor's edit of the old version is refused.
    softened = workers["b"].put(
        "/v1/lint-rules/deflecting", json={**RULE, "severity": "warn", "version": 1}, headers=editor
    )
    assert softened.status_code == 200 and softened.json()["version"] == 2
    stale = workers["a"].put("/v1/lint-rules/deflecting", json={**RULE, "version": 1}, headers=editor)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_edit"
    assert stale.json()["error"]["detail"]["current"]["severity"] == "warn"
    assert _wait_for(
        lambda: workers["a"].post("/v1/lint", json={"text": DEFLECTING}, headers=agent).json()["ok"]
    )

    # Disabled: kept in the database, no longer flags anything on either worker.
    disabled = workers["a"].delete("/v1/lint-rules/deflecting?version=2", headers=editor)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert _wait_for(lambda: "deflecting" not in flags("b"))
    listed = workers["b"].get("/v1/lint-rules?enabled=false", headers=editor).json()
    assert [rule["id"] for rule in listed] == ["deflecting"]
    with Session(workers["database"]) as session:
        audit = session.exec(select(store.AuditLog).where(store.AuditLog.target == "deflecting")).all()
    assert [entry.action for entry in audit] == ["create_lint_rule", "update_lint_rule", "update_lint_rule"]


def test_a_reply_is_checked_against_the_rules_in_the_database(workers, monkeypatch):
    """Worker b has not yet heard of a rule added on worker a: approving a reply that the
    rule blocks is refused all the same, since the check reads the rules under the lock."""
    editor = bearer(workers["keys"]["editor"])
    monkeypatch.setattr(workers["b"].app.state.sync, "poll", lambda: None)  # b stays behind
    rule = {**RULE, "id": "not-our-problem", "phrases": ["那是快递的问题"]}
    assert workers["a"].post("/v1/lint-rules", json=rule, headers=editor).status_code == 201
    draft = {"id": "blames-courier", "text": "亲，那是快递的问题哦", "intents": ["logistics"]}
    assert (
        workers["b"].post("/v1/replies", json={**draft, "status": "draft"}, headers=editor).status_code == 201
    )
    approved = {**draft, "status": "approved", "version": 1}
    refused = workers["b"].put("/v1/replies/blames-courier", json=approved, headers=editor)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "reply_fails_lint" and error["detail"][0]["rule_id"] == "not-our-problem"
    created = workers["b"].post("/v1/replies", json={**draft, "id": "blames-courier-2"}, headers=editor)
    assert created.status_code == 422
    with Session(workers["database"]) as session:  # nothing of the refused writes was kept
        assert store.reply_row(session, reply_id="blames-courier").status == "draft"
        assert store.reply_row(session, reply_id="blames-courier-2") is None
    monkeypatch.undo()
    disabled = workers["a"].delete("/v1/lint-rules/not-our-problem?version=1", headers=editor)
    assert disabled.status_code == 200


def test_a_rule_and_a_reply_it_blocks_never_both_land(workers):
    """Added at the same moment on two workers, the second to take the corpus lock sees the
    first: never an approved reply that an enabled blocking rule blocks."""
    from concurrent.futures import ThreadPoolExecutor

    editor = bearer(workers["keys"]["editor"])
    landed = []
    for round_ in range(8):
        phrase = f"第{round_}号说法不归我们"
        rule = {**RULE, "id": f"race-rule-{round_}", "phrases": [phrase]}
        reply = {"id": f"race-reply-{round_}", "text": f"亲，{phrase}哦", "intents": ["logistics"]}
        with ThreadPoolExecutor(2) as pool:
            rule_answer = pool.submit(workers["a"].post, "/v1/lint-rules", json=rule, headers=editor)
            reply_answer = pool.submit(workers["b"].post, "/v1/replies", json=reply, headers=editor)
            statuses = (rule_answer.result().status_code, reply_answer.result().status_code)
        assert sorted(statuses) == [201, 422], statuses
        landed.append(statuses[0] == 201)
    from classifiers.lint import Linter

    with Session(workers["database"]) as session:
        blocking = [rule for rule in store.enabled_lint_rules(session) if rule.severity == "block"]
        approved = dict(store.approved_reply_texts(session))
    assert all(Linter(blocking).lint(text).ok for text in approved.values())
    for round_, rule_landed in enumerate(landed):
        path = f"/v1/lint-rules/race-rule-{round_}" if rule_landed else f"/v1/replies/race-reply-{round_}"
        assert workers["a"].delete(f"{path}?version=1", headers=editor).status_code == 200


def test_every_stored_reply_has_a_current_analysis(workers):
    with Session(workers["database"]) as session:
        rows = session.exec(select(store.ReplyRow)).all()
    assert rows and all(row.analyzer == analyzer_version() for row in rows)


def _turn() -> list[float]:
    return [0.0, 0.0, 0.0, 0.9]  # a refund message's remembered scores


def test_concurrent_flushes_never_deadlock_and_concurrent_reads_see_them(workers, caplog):
    # Two workers' batches over the same conversations, filled in opposite orders and
    # written at the same moment: upserting in id order makes them queue on row locks
    # instead of deadlocking (PostgreSQL would abort one after a second).
    import asyncio

    ids = [f"race-{i:03d}" for i in range(300)]
    turn = _turn()
    contexts = [ConversationContext(workers["database"], ttl=3600) for _ in range(2)]

    async def race() -> list[list[float] | None]:
        for round_ in range(5):
            for number, context in enumerate(contexts):
                for cid in ids if (number + round_) % 2 else reversed(ids):
                    context.remember(cid, turn)
            for context in contexts:
                context.flush()
            await asyncio.sleep(0.3)
        for context in contexts:
            await context.close()
        reader = ConversationContext(workers["database"], ttl=3600)
        try:  # many reads at once (on PostgreSQL they share one query), one for no conversation
            return await asyncio.gather(*(reader.previous(cid) for cid in [*ids, "race-none"]))
        finally:
            await reader.close()

    assert asyncio.run(race()) == [[0.0, 0.0, 0.0, 0.9]] * len(ids) + [None]
    assert "conversation context unavailable" not in caplog.text


def test_a_lost_database_costs_the_context_not_the_answer(workers, caplog):
    import asyncio

    from sqlalchemy import create_engine

    # A database that refuses every connection: reads answer None, flushes are dropped.
    url = workers["database"].url
    broken = create_engine(
        url.set(port=1) if url.get_backend_name() == "postgresql" else "sqlite:////nonexistent/x.db"
    )
    context = ConversationContext(broken, ttl=3600)

    async def turn() -> list[float] | None:
        context.remember("lost-1", _turn())
        context.flush()
        answer = await context.previous("lost-2")
        await context.close()
        return answer

    assert asyncio.run(turn()) is None
    assert "conversation context unavailable" in caplog.text


def test_sqlite_checkpoints_happen_off_the_event_loop(tmp_path):
    # A checkpoint syncs to disk; the context writes on the event loop, so it must never
    # checkpoint itself (that stalled frames behind an fsync), and the sync thread does it.
    import asyncio

    database = store.connect(f"sqlite:///{tmp_path / 'huashu.db'}")
    store.prepare(database)
    context = ConversationContext(database, ttl=3600)

    async def write() -> None:
        for i in range(50):
            context.remember(f"c{i}", _turn())
        context.flush()

    asyncio.run(write())
    assert context._sqlite().execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    with database.connect() as connection:
        busy, log, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert log > 0 and copied == log  # what the loop wrote is in the log, and a checkpoint copies it
    asyncio.run(context.close())
    database.dispose()


def test_the_sync_poll_checkpoints(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    calls = []
    real = store.checkpoint
    monkeypatch.setattr(store, "checkpoint", lambda database: calls.append(1) or real(database))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'huashu.db'}", cache_dir=tmp_path / "cache", sync_interval_s=0.05
    )
    with TestClient(create_app(settings)):
        assert _wait_for(lambda: len(calls) >= 2)


def test_only_unclear_follow_ups_read_the_context(workers, monkeypatch):
    # A message clear on its own never needs the previous one, so it skips the database read.
    reads = []
    real = ConversationContext.previous

    async def counting(self, conversation_id):
        reads.append(conversation_id)
        return await real(self, conversation_id)

    monkeypatch.setattr(ConversationContext, "previous", counting)
    agent = bearer(workers["keys"]["agent"])
    clear = workers["a"].post(
        "/v1/suggest", json={"text": "能便宜点吗", "conversation_id": "r1"}, headers=agent
    )
    assert clear.json()["intent"] == "bargaining" and reads == []
    time.sleep(3 * ConversationContext.FLUSH_S)
    follow_up = workers["b"].post(
        "/v1/suggest", json={"text": "那多少呢", "conversation_id": "r1"}, headers=agent
    )
    assert follow_up.json()["intent"] == "bargaining" and reads == ["r1"]


def test_feedback_committed_out_of_id_order_is_still_counted(workers, monkeypatch):
    """On PostgreSQL an event's id is taken at insert and seen at commit: a later id can be
    seen first. The earlier one must still be counted when it lands; an id that never
    lands (a rolled-back insert) is given up after GAP_TTL_S."""
    from app.feedback import FeedbackBoosts

    database = workers["database"]
    reply_id = "bargaining-001"

    def event(action: str) -> store.FeedbackEvent:
        return store.FeedbackEvent(reply_id=reply_id, intent="bargaining", action=action)

    boosts = FeedbackBoosts()
    with Session(database) as session:
        boosts.catch_up(session)
    before = boosts._counts.get((reply_id, "bargaining"), {}).get("used", 0)
    concurrent = workers["database"].dialect.name == "postgresql"  # SQLite has one writer at a time
    with Session(database) as slow, Session(database) as fast, Session(database) as rolled_back:
        slow.add(event("used"))
        if concurrent:
            slow.flush()  # takes its id, not yet committed
            rolled_back.add(event("used"))
            rolled_back.flush()
        else:
            slow.commit()
        fast.add(event("used"))
        fast.commit()
        with Session(database) as session:
            boosts.catch_up(session)
        if concurrent:
            assert len(boosts._gaps) == 2  # the slow commit and the insert about to roll back
            slow.commit()
            rolled_back.rollback()
    with Session(database) as session:
        boosts.catch_up(session)
    assert boosts._counts[(reply_id, "bargaining")]["used"] == before + 2
    assert boosts.boosts[(reply_id, "bargaining")] > 0
    monkeypatch.setattr(FeedbackBoosts, "GAP_TTL_S", 0.0)
    with Session(database) as session:
        boosts.catch_up(session)
    assert boosts._gaps == {}
