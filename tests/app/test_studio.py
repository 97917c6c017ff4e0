"""The editors' studio (/studio/) in real headless Chromium, against the real server."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, ROOT, bearer, create_key, require_chromium, running_server

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
DOCS = ROOT / "docs"
STUDIO = ROOT / "app" / "studio"
IMPORT_LIMIT = 1_000_000  # small, so that a browser upload past it is quick


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    database = tmp_path_factory.mktemp("studio-db") / "huashu.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "CACHE_DIR": str(database.parent / "cache"),
           "MAX_IMPORT_BYTES": str(IMPORT_LIMIT)}  # fmt: skip
    keys = {name: create_key(env, role, name) for name, role in
            [("alice", "editor"), ("bob", "editor"), ("agent", "agent")]}  # fmt: skip
    with running_server(env) as process:
        yield {"base": process.base, "keys": keys, "database": database}


@pytest.fixture(scope="module")
def chromium():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture()
def context(chromium, server):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    errors: list[str] = []
    urls: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda error: errors.append(str(error))))
    context.on("request", lambda request: urls.append(request.url))
    yield context
    context.close()
    assert errors == []  # no script error in any tab
    # Keys go in the Authorization header, never in an address (logs, history, proxies).
    assert urls and not [u for u in urls for key in server["keys"].values() if key in u]


def api(server, method: str, path: str, key: str = "alice", **kwargs) -> httpx.Response:
    return httpx.request(method, server["base"] + path, headers=bearer(server["keys"][key]), **kwargs)


def sign_in(context, server, key: str = "alice"):
    """A new tab, signed in as the testing contract says: the key typed into `key`, then Enter."""
    page = context.new_page()
    page.goto(f"{server['base']}/studio/")
    page.get_by_test_id("key").fill(server["keys"][key])
    page.get_by_test_id("key").press("Enter")
    expect(page.get_by_test_id("reply-row").first).to_be_visible()
    return page


def test_the_studio_is_served_from_the_package(server):
    index = httpx.get(f"{server['base']}/studio/")
    assert index.status_code == 200 and "话术工作室" in index.text
    assert httpx.get(f"{server['base']}/studio", follow_redirects=False).status_code in (301, 307)
    chart = httpx.get(f"{server['base']}/studio/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v" in chart.text[:200]


def test_an_unknown_path_under_the_studio_is_the_one_json_404(server):
    """The studio routes by #fragment, so no path under /studio/ is a client route: a missing
    file is a 404 in the one error shape, naming the path (never index.html or plain text)."""
    for path in ["/studio/nope", "/studio/js/nope.js", "/studio/vendor/", "/studio/replies/ship-today"]:
        answer = httpx.get(server["base"] + path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/json", path
        assert answer.json() == {"error": {"code": "not_found", "message": f"no studio file at {path}"}}
    # The studio's files are still there, and only GET and HEAD reach them.
    assert httpx.get(server["base"] + "/studio/js/main.js").status_code == 200
    assert httpx.head(server["base"] + "/studio/index.html").status_code == 200
    posted = httpx.post(server["base"] + "/studio/index.html")
    assert posted.status_code == 405 and posted.json()["error"]["code"] == "method_not_allowed"
    assert posted.headers["allow"] == "GET, HEAD"


def test_the_vendored_libraries_are_the_locked_ones():
    """The committed files are what `npm run vendor` copies from the versions in the lock."""
    import hashlib

    lock = json.loads((ROOT / "studio" / "package-lock.json").read_text())["packages"]
    manifest = json.loads((STUDIO / "vendor" / "VERSIONS.json").read_text())
    wanted = json.loads((ROOT / "studio" / "package.json").read_text())["dependencies"]
    assert set(manifest) == set(wanted)
    for name, entry in manifest.items():
        assert entry["version"] == lock[f"node_modules/{name}"]["version"] == wanted[name]
        vendored = (STUDIO / "vendor" / entry["file"]).read_bytes()
        assert hashlib.sha256(vendored).hexdigest() == entry["sha256"]
        installed = ROOT / "studio" / "node_modules" / name / entry["from"]
        if installed.exists():  # after `npm ci` in studio/: the very same bytes
            assert installed.read_bytes() == vendored
    header = (STUDIO / "vendor" / "chart.umd.min.js").read_text()[:200]
    assert f"Chart.js v{manifest['chart.js']['version']}" in header


def test_sign_in_and_find_a_reply_by_a_traditional_query(context, server):
    page = context.new_page()
    page.goto(f"{server['base']}/studio/")
    page.get_by_test_id("key").fill("hs_not-a-key")
    page.get_by_test_id("key").press("Enter")
    expect(page.locator("#sign-in-error")).to_contain_text("密钥无效")
    page.get_by_test_id("key").fill(server["keys"]["agent"])
    page.get_by_test_id("key").press("Enter")
    expect(page.locator("#sign-in-error")).to_contain_text("编辑或管理员密钥")
    page.close()

    page = sign_in(context, server)
    everything = page.get_by_test_id("reply-row").count()
    page.get_by_test_id("search").fill("發貨")  # Traditional; the corpus is written in Simplified
    expect(page.get_by_test_id("reply-row")).not_to_have_count(everything)
    rows = page.get_by_test_id("reply-row")
    assert rows.count() > 0
    # The same replies as the Simplified query finds (the match may be in a trigger or tag).
    simplified = api(server, "GET", "/v1/replies", params={"q": "发货", "limit": 1000}).json()
    shown = [rows.nth(i).get_attribute("data-id") for i in range(rows.count())]
    assert shown == [r["id"] for r in simplified] and any("发货" in r["text"] for r in simplified)
    assert "#/replies?q=" in page.url
    # The key lives in this tab's session only: a new tab must sign in again.
    other = context.new_page()
    other.goto(f"{server['base']}/studio/")
    expect(other.get_by_test_id("key")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("reply-row").first).to_be_visible()


def _draft(server, reply_id: str, **fields) -> dict:
    body = {"id": reply_id, "intents": ["logistics"], "text": "亲，今天下单明天就发货哦", "tags": ["发货"],
            "triggers": ["什么时候发货", "明天能发吗"], "status": "draft", **fields}  # fmt: skip
    created = api(server, "POST", "/v1/replies", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def test_edit_with_live_lint_a_stale_edit_from_another_tab_and_the_workflow(context, server):
    reply = _draft(
        server, "studio-edit-ship", slots={"courier": None}, text="亲，今天下单明天就用{courier}发货哦"
    )
    page = sign_in(context, server)
    page.goto(f"{server['base']}/studio/#/reply/{reply['id']}")
    text = page.get_by_test_id("reply-text")
    expect(text).to_have_value(reply["text"])
    expect(page.locator("input[data-slot=courier]")).to_be_visible()
    text.press("End")
    text.press_sequentially("，可能吧", delay=40)  # as a person types
    flag = page.get_by_test_id("lint-flag").first
    expect(flag).to_have_attribute("data-severity", "block")
    expect(flag).to_contain_text("可能吧")
    expect(page.locator("mark.block")).to_have_text("可能吧")
    page.get_by_test_id("try").click()
    expect(page.get_by_test_id("try-row").first).to_contain_text("第 ")
    page.screenshot(path=str(DOCS / "studio-editor.png"), full_page=True)
    text.fill("亲，今天下单，明天一早就用{courier}发货哦")
    expect(page.get_by_test_id("lint-flag")).to_have_count(0)
    expect(page.get_by_test_id("lint-status")).to_contain_text("未发现")

    # Bob, in another tab, saves first; Alice's save is refused and shows his version beside hers.
    other = sign_in(context, server, "bob")
    other.goto(f"{server['base']}/studio/#/reply/{reply['id']}")
    expect(other.get_by_test_id("reply-text")).to_have_value(reply["text"])
    other.get_by_test_id("reply-text").fill("亲，今天下单今天就用{courier}发货哦")
    other.get_by_test_id("save").click()
    expect(other.get_by_test_id("status")).to_contain_text("版本 2")
    page.get_by_test_id("save").click()
    conflict = page.get_by_test_id("conflict")
    expect(conflict).to_contain_text("bob")
    expect(page.get_by_test_id("conflict-theirs")).to_contain_text("今天就用{courier}发货")
    expect(page.get_by_test_id("conflict-mine")).to_contain_text("明天一早就用{courier}发货")
    stored = api(server, "GET", f"/v1/replies/{reply['id']}").json()
    assert (stored["version"], stored["text"]) == (
        2,
        "亲，今天下单今天就用{courier}发货哦",
    )  # not overwritten
    page.get_by_test_id("keep-mine").click()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("status")).to_contain_text("版本 3")
    assert (
        api(server, "GET", f"/v1/replies/{reply['id']}").json()["text"]
        == "亲，今天下单，明天一早就用{courier}发货哦"
    )

    # The workflow: approving banned wording is refused, with the gate's reason shown.
    text.fill("亲，可能吧，明天发货")
    page.get_by_test_id("move-approved").click()
    expect(page.get_by_test_id("gate")).to_contain_text("不能批准上线")
    expect(page.get_by_test_id("gate")).to_contain_text("可能吧")
    assert api(server, "GET", f"/v1/replies/{reply['id']}").json()["status"] == "draft"
    text.fill("亲，今天下单，明天一早就用{courier}发货哦")
    page.get_by_test_id("move-approved").click()
    expect(page.get_by_test_id("status")).to_contain_text("已批准")
    assert api(server, "GET", f"/v1/replies/{reply['id']}").json()["status"] == "approved"
    page.get_by_test_id("move-retired").click()
    expect(page.get_by_test_id("status")).to_contain_text("已停用")
    page.get_by_test_id("move-draft").click()
    expect(page.get_by_test_id("status")).to_contain_text("草稿")

    # History: every version, and a diff between any two.
    expect(page.get_by_test_id("version")).to_have_count(6)
    page.get_by_test_id("diff-from").select_option("1")
    page.get_by_test_id("diff-to").select_option("2")
    expect(page.get_by_test_id("history-diff").locator("del")).to_contain_text(["明"])
    expect(page.get_by_test_id("history-diff").locator("ins")).to_contain_text(["今"])


def test_lint_rules_show_the_replies_they_would_block_and_toggle(context, server):
    _draft(server, "studio-rule-target", status="approved", text="亲，这个不归我们仓库管，我帮您问问哦")
    page = sign_in(context, server)
    page.goto(f"{server['base']}/studio/#/rule")
    page.get_by_test_id("rule-id").fill("studio-deflecting")
    page.get_by_test_id("rule-category").fill("deflecting")
    page.get_by_test_id("rule-phrases").fill("不归我们仓库管")
    page.get_by_test_id("rule-suggestion").fill("亲，这个我来帮您跟进处理哦～")
    impacted = page.get_by_test_id("impacted-reply")
    expect(impacted).to_have_count(1)
    expect(impacted).to_contain_text("studio-rule-target")
    expect(page.get_by_test_id("impact")).to_contain_text("保存会被拒绝")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("rule-problem")).to_contain_text("rule_blocks_approved_replies")
    assert api(server, "GET", "/v1/lint-rules/studio-deflecting").status_code == 404
    page.get_by_test_id("rule-severity").select_option("warn")
    expect(page.get_by_test_id("impact")).to_contain_text("不拦截")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("history")).to_contain_text("版本 1")
    page.goto(f"{server['base']}/studio/#/rules")
    row = page.locator("[data-testid=rule-row][data-id=studio-deflecting]")
    row.get_by_test_id("toggle-rule").click()
    expect(row).to_contain_text("停用")
    expect(row.get_by_test_id("toggle-rule")).to_have_text("启用")
    assert api(server, "GET", "/v1/lint-rules/studio-deflecting").json()["enabled"] is False
    page.goto(f"{server['base']}/studio/#/audit")
    page.get_by_test_id("audit-entity").fill("studio-deflecting")
    page.get_by_test_id("audit-entity").press("Enter")
    expect(page.get_by_test_id("audit-row")).to_have_count(2)
    expect(page.get_by_test_id("audit-row").first).to_contain_text("修改规则")


def test_import_with_a_dry_run_then_apply_and_export(context, server, tmp_path):
    import yaml

    current = api(server, "GET", "/v1/replies/ship-today").json()
    document = {
        "replies": [
            {
                "id": "studio-imported",
                "intents": ["refund"],
                "text": "亲，退款已为您加急处理，请留意到账哦",
                "triggers": ["退款什么时候到账"],
                "status": "approved",
            },  # fmt: skip
            {
                **{
                    k: current[k] for k in ("id", "intents", "triggers", "tags", "slots", "shop_id", "status")
                },
                "version": current["version"],
                "text": current["text"] + "～",
            },  # fmt: skip
        ],
        "lint_rules": [],
    }
    upload = tmp_path / "corpus.yaml"
    upload.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("replies:\n  - id: x\n    text: [unclosed\n", encoding="utf-8")
    page = sign_in(context, server)
    imports: list[tuple[str, str]] = []  # (query, Content-Type) of each import the page sends

    def record(request) -> None:
        address, _, query = request.url.partition("?")
        if address.endswith("/v1/corpus/import"):
            imports.append((query, request.headers.get("content-type", "")))

    page.on("request", record)
    page.get_by_role("link", name="导入导出").click()
    page.get_by_test_id("import-file").set_input_files(str(bad))
    page.get_by_test_id("dry-run").click()
    expect(page.get_by_test_id("import-error")).to_contain_text("malformed_import")
    expect(page.get_by_test_id("apply-import")).to_be_disabled()
    # A file past MAX_IMPORT_BYTES: the server's 413 reaches the page as its own message.
    big = tmp_path / "big.yaml"
    big.write_text("replies:\n" + "# 填充\n" * (IMPORT_LIMIT // 8 + 1000), encoding="utf-8")
    page.get_by_test_id("import-file").set_input_files(str(big))
    page.get_by_test_id("dry-run").click()
    expect(page.get_by_test_id("import-error")).to_contain_text("文件太大（body_too_large）")
    expect(page.get_by_test_id("apply-import")).to_be_disabled()

    page.get_by_test_id("import-file").set_input_files(str(upload))
    expect(page.get_by_test_id("apply-import")).to_be_disabled()  # not before a dry run
    page.get_by_test_id("dry-run").click()
    expect(page.get_by_test_id("import-summary")).to_contain_text("新建 1，修改 1")
    expect(page.get_by_test_id("import-changed")).to_contain_text("ship-today")
    expect(page.get_by_test_id("import-changed").locator("ins")).to_contain_text("～")
    assert api(server, "GET", "/v1/replies/studio-imported").status_code == 404  # a dry run writes nothing
    page.get_by_test_id("apply-import").click()
    expect(page.get_by_test_id("import-summary")).to_contain_text("已导入")
    assert api(server, "GET", "/v1/replies/studio-imported").json()["status"] == "approved"
    assert api(server, "GET", "/v1/replies/ship-today").json()["text"].endswith("～")
    # Dry runs and the apply went as multipart forms (the file streamed in the field "file").
    assert [query for query, _ in imports] == [*["dry_run=true&format=yaml"] * 3, "dry_run=false&format=yaml"]
    assert all(kind.startswith("multipart/form-data; boundary=") for _, kind in imports), imports

    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "huashu-corpus.csv"
    assert "studio-imported" in saved.read_text(encoding="utf-8")


def _agent_traffic(server) -> str:
    """Buyer messages and feedback through the real WebSocket, as the extension sends them;
    answers the reply the agents used."""
    from websockets.sync.client import connect

    url = f"ws://{server['base'].removeprefix('http://')}/v1/ws"
    with connect(url, subprotocols=["huashu", f"bearer.{server['keys']['agent']}"]) as ws:

        def ask(frame: dict) -> dict:
            ws.send(json.dumps(frame, ensure_ascii=False))
            return json.loads(ws.recv(timeout=10))

        for n in range(4):
            answer = ask({"type": "buyer_message", "conversation_id": f"studio-c{n}", "text": "什么时候发货"})
            used = answer["suggestions"][0]["reply_id"]
            ack = ask(
                {"type": "feedback", "reply_id": used, "action": "used", "conversation_id": f"studio-c{n}"}
            )
            assert ack["type"] == "ack"
        for n in range(3):  # an often edited reply, and what the agents sent instead
            answer = ask({"type": "buyer_message", "conversation_id": f"studio-e{n}", "text": "能便宜点吗"})
            ask({"type": "feedback", "reply_id": answer["suggestions"][0]["reply_id"], "action": "edited",
                 "conversation_id": f"studio-e{n}", "final_text": "亲，两件包邮哦"})  # fmt: skip
        for n in range(3):  # messages nobody answered with a suggestion: a coverage gap
            ask({"type": "buyer_message", "conversation_id": f"studio-g{n}", "text": "能寄到南极科考站吗"})
    return used


def test_analytics_charts_are_drawn_from_feedback_sent_through_the_websocket(context, server):
    import time

    used = _agent_traffic(server)
    deadline = time.monotonic() + 10  # suggestion events are written in batches, off the request path
    while time.monotonic() < deadline:
        usage = api(server, "GET", "/v1/analytics/replies", params={"limit": 1000}).json()["replies"]
        if any(r["reply_id"] == used and r["used"] >= 4 and r["offered"] >= 4 for r in usage):
            break
        time.sleep(0.2)
    page = sign_in(context, server)
    page.get_by_role("link", name="分析").click()
    expect(page.get_by_test_id("analytics-window")).to_contain_text("买家消息")  # drawn
    expect(page.locator("[data-testid=chart][data-chart=top-replies]")).to_be_visible()
    expect(page.get_by_test_id("chart")).to_have_count(5)
    drawn = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[data-testid=chart]')].map((c) => {"
        " const chart = Chart.getChart(c); return [c.dataset.chart, chart ? {labels: chart.data.labels,"
        " sets: chart.data.datasets.map((d) => ({label: d.label, data: d.data}))} : null]; }))"
    )
    assert used in " ".join(drawn["top-replies"]["labels"]) or any(
        used.startswith(label.rstrip("…")) for label in drawn["top-replies"]["labels"]
    )
    assert drawn["top-replies"]["sets"][0]["data"][0] > 0
    assert "物流" in [s["label"] for s in drawn["intent-use-rate"]["sets"]]
    assert sum(drawn["abstentions"]["sets"][0]["data"]) >= 10
    assert sum(drawn["coverage"]["sets"][0]["data"]) >= 3
    expect(page.get_by_test_id("coverage-groups")).to_contain_text("南极")
    expect(page.get_by_test_id("edited-reply").first).to_contain_text("亲，两件包邮哦")
    page.screenshot(path=str(DOCS / "studio-analytics.png"), full_page=True)

    # The list: use rates and marks from the same analytics.
    page.get_by_role("link", name="回复").click()
    page.locator("select[name=sort]").select_option("use_desc")
    expect(page.get_by_test_id("reply-row").first).to_contain_text("100%")
    expect(page.locator(f"[data-testid=reply-row][data-id={used}]")).to_contain_text("100%")
    expect(page.get_by_test_id("heavily-edited").first).to_be_visible()
    expect(page.get_by_test_id("never-used").first).to_be_visible()
    page.screenshot(path=str(DOCS / "studio-list.png"))
