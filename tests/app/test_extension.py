"""The browser extension in real headless Chromium, against the real server and its demo chat."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest

from bench.service_bench import Server
from tests.helpers import ROOT, create_key

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EXTENSION = ROOT / "extension"
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium not installed (.ci/run installs it with apt-get install -y chromium)")
    database = tmp_path_factory.mktemp("ext-db") / "huashu.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "CACHE_DIR": str(database.parent / "cache")}
    key = create_key(env, "agent", "ext-test")
    log = database.parent / "server.log"
    # At info, uvicorn logs every WebSocket handshake with its path and query: what a test reads.
    with Server(env, args=("--log-level", "info"), log=log) as process:
        yield {"base": process.base, "key": key, "database": database, "log": log}


@pytest.fixture()
def browser(tmp_path):
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
            ],
        )
        workers = context.service_workers
        worker = workers[0] if workers else context.wait_for_event("serviceworker")
        yield context, worker
        context.close()


def open_pair(context, worker, server, key):
    extension_id = worker.url.split("/")[2]
    worker.evaluate(
        "([server, key]) => chrome.storage.local.set({'huashu.server': server, 'huashu.key': key})",
        [server["base"], key],
    )
    chat = context.new_page()
    chat.set_viewport_size({"width": 900, "height": 640})
    chat.goto(f"{server['base']}/demo/chat")
    tabs = worker.evaluate("chrome.tabs.query({})")
    tab_id = next(t["id"] for t in tabs if "/demo/chat" in (t.get("url") or ""))
    panel = context.new_page()
    panel.set_viewport_size({"width": 380, "height": 640})
    panel.goto(f"chrome-extension://{extension_id}/panel/panel.html?tabId={tab_id}")
    return chat, panel


def side_by_side(context, left, right, output) -> None:
    """The chat and the panel in one picture, as an agent sees them (for the README)."""
    import base64

    images = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}">'
        for f in [left, right]
    )
    page = context.new_page()
    page.set_viewport_size({"width": 1282, "height": 640})
    page.set_content(f'<body style="margin:0;display:flex;gap:2px;background:#999">{images}</body>')
    page.screenshot(path=str(output))
    page.close()


def feedback_actions(database) -> list[tuple[str, str | None]]:
    import sqlite3

    with sqlite3.connect(database) as db:
        return db.execute("SELECT action, final_text FROM feedback_event ORDER BY id").fetchall()


def reply_actions(database) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(database) as db:
        return db.execute("SELECT action, reply_id FROM feedback_event ORDER BY id").fetchall()


def english_words(page) -> set[str]:
    """Words in Latin letters a page shows, less web addresses and the names agents know as they
    are (API, Alt, CSS, Chrome)."""
    text = re.sub(r"[\w*]+://\S*", "", page.inner_text("body"))
    return set(re.findall(r"[A-Za-z]{2,}", text)) - {"API", "Alt", "CSS", "Chrome"}


def test_message_suggestions_insert_lint_and_feedback(browser, server, tmp_path):
    context, worker = browser
    chat, panel = open_pair(context, worker, server, server["key"])
    status = panel.get_by_test_id("status")
    sync_api.expect(status).to_have_text("已连接")
    time.sleep(0.3)  # the content script's port is up
    chat.evaluate("huashuDemo.receive('发什么快递，几天能到')")
    sync_api.expect(panel.get_by_test_id("suggestion").first).to_be_visible()
    sync_api.expect(panel.get_by_test_id("intent")).to_have_attribute("data-intent", "logistics")
    first = panel.get_by_test_id("suggestion").first
    slots = first.locator("input[data-slot]")
    if slots.count():
        # A reply with an unfilled slot cannot be inserted raw.
        sync_api.expect(first.get_by_test_id("insert")).to_be_disabled()
        for i in range(slots.count()):
            slots.nth(i).fill("顺丰")
    first.get_by_test_id("insert").click()
    first_text = chat.input_value("#chat-input")
    assert first_text and "{" not in first_text
    template = first.locator(".reply").get_attribute("data-template")
    assert first_text == re.sub(r"\{\w+\}", "顺丰", template)
    chat.fill("#chat-input", first_text + "可能吧")
    flag = panel.get_by_test_id("lint-flag").first
    sync_api.expect(flag).to_have_attribute("data-severity", "block")
    assert english_words(panel) == set(), "the panel's labels are for Chinese agents"
    DOCS.mkdir(exist_ok=True)
    chat.screenshot(path=str(tmp_path / "chat.png"))
    panel.screenshot(path=str(tmp_path / "panel.png"))
    side_by_side(context, tmp_path / "chat.png", tmp_path / "panel.png", DOCS / "extension.png")
    panel.get_by_test_id("apply-fix").first.click()
    fixed = chat.input_value("#chat-input")
    assert fixed.startswith(first_text) and "可能吧" not in fixed and len(fixed) > len(first_text)
    sync_api.expect(panel.get_by_test_id("lint-flag")).to_have_count(0)
    chat.click("button[type=submit]")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any(a == "edited" for a, _ in feedback_actions(server["database"])):
            break
        time.sleep(0.1)
    actions = feedback_actions(server["database"])
    assert ("edited", fixed) in actions
    assert any(a == "shown" for a, _ in actions)


def test_dismiss_removes_a_suggestion_and_records_dismissed(browser, server):
    context, worker = browser
    chat, panel = open_pair(context, worker, server, server["key"])
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")
    time.sleep(0.3)
    chat.evaluate("huashuDemo.receive('能不能再便宜一点')")
    suggestions = panel.get_by_test_id("suggestion")
    sync_api.expect(suggestions.first).to_be_visible()
    count = suggestions.count()
    second = suggestions.nth(1).locator(".reply").get_attribute("data-template") if count > 1 else None
    dropped = suggestions.first.get_attribute("data-reply-id")
    suggestions.first.get_by_test_id("dismiss").click()
    sync_api.expect(suggestions).to_have_count(count - 1)
    if second is not None:  # the rest move up, and Alt+1 now means the next one
        assert suggestions.first.locator(".reply").get_attribute("data-template") == second
        sync_api.expect(suggestions.first.get_by_test_id("insert")).to_contain_text("Alt+1")
    deadline = time.monotonic() + 5
    while ("dismissed", dropped) not in reply_actions(server["database"]):
        assert time.monotonic() < deadline, "no dismissed feedback recorded for the dropped reply"
        time.sleep(0.1)


def test_alt_shortcuts_insert_from_the_chat_page_and_from_the_panel(browser, server):
    context, worker = browser
    chat, panel = open_pair(context, worker, server, server["key"])
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")
    time.sleep(0.3)
    chat.evaluate("huashuDemo.receive('发什么快递，几天能到')")
    suggestions = panel.get_by_test_id("suggestion")
    sync_api.expect(suggestions.first).to_be_visible()
    fields = panel.locator("input[data-slot]")
    for i in range(fields.count()):
        fields.nth(i).fill("3")
    expected = [suggestions.nth(i).locator(".reply").inner_text() for i in range(min(2, suggestions.count()))]
    # In the chat page, with the agent's cursor in the chat input: Alt+1 replaces the draft.
    chat.bring_to_front()
    chat.fill("#chat-input", "草稿")
    chat.focus("#chat-input")
    chat.keyboard.press("Alt+1")
    sync_api.expect(chat.locator("#chat-input")).to_have_value(expected[0])
    assert chat.evaluate("document.querySelectorAll('#messages .seller').length") == 0, "never sent"
    if len(expected) > 1:  # and from the panel
        panel.bring_to_front()
        panel.locator("body").click()
        panel.keyboard.press("Alt+2")
        sync_api.expect(chat.locator("#chat-input")).to_have_value(expected[1])


def test_take_the_nearest_approved_reply_instead(browser, server):
    """The server's own nearest_reply, for a flagged draft with a clear intent, becomes the
    改用这条审核话术 button; taking it puts the reply's text in the chat input, and sending it
    unchanged records used for that reply. Nothing between the server and the panel is changed:
    what the panel must show is read from the same server's REST lint for the same draft."""
    import httpx

    from tests.helpers import bearer

    def rest_lint(text: str) -> dict:
        answer = httpx.post(f"{server['base']}/v1/lint", json={"text": text}, headers=bearer(server["key"]))
        assert answer.status_code == 200
        return answer.json()

    draft = "亲，今天发货，可能吧"
    expected = rest_lint(draft)
    assert expected["flags"] and expected["nearest_reply"] is not None, expected
    nearest = expected["nearest_reply"]
    unclear = "你自己看详情页"  # flagged, but no clear intent: the server names no reply
    assert rest_lint(unclear)["flags"] and rest_lint(unclear)["nearest_reply"] is None

    context, worker = browser
    chat, panel = open_pair(context, worker, server, server["key"])
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")
    time.sleep(0.3)
    chat.fill("#chat-input", unclear)
    sync_api.expect(panel.get_by_test_id("lint-flag").first).to_be_visible()
    sync_api.expect(panel.get_by_test_id("take-reply")).to_have_count(0)
    chat.fill("#chat-input", draft)
    box = panel.get_by_test_id("nearest-reply")
    sync_api.expect(box).to_have_attribute("data-reply-id", nearest["reply_id"])
    take = panel.get_by_test_id("take-reply")
    sync_api.expect(take).to_be_visible()
    chat.fill("#chat-input", "")  # an emptied draft has nothing left to flag
    sync_api.expect(panel.get_by_test_id("lint-flag")).to_have_count(0)
    sync_api.expect(take).to_have_count(0)
    chat.fill("#chat-input", draft)
    sync_api.expect(box).to_have_attribute("data-reply-id", nearest["reply_id"])
    expected_text = nearest["text"]
    slots = box.locator("input[data-slot]")
    if slots.count():  # a reply with a slot cannot be taken until the agent fills it
        sync_api.expect(take).to_be_disabled()
        for i in range(slots.count()):
            slots.nth(i).fill("顺丰")
        expected_text = re.sub(r"\{\w+\}", "顺丰", expected_text)
    take.click()
    sync_api.expect(chat.locator("#chat-input")).to_have_value(expected_text)
    assert "{" not in chat.input_value("#chat-input")
    chat.click("button[type=submit]")
    deadline = time.monotonic() + 5
    while ("used", nearest["reply_id"]) not in reply_actions(server["database"]):
        assert time.monotonic() < deadline, "sending the taken reply unchanged records used"
        time.sleep(0.1)


def socket_urls(context) -> list[str]:
    """The address of every WebSocket the pages opened from now on, as the browser opened it."""
    urls: list[str] = []
    context.on("page", lambda page: page.on("websocket", lambda ws: urls.append(ws.url)))
    return urls


def test_the_key_travels_as_a_subprotocol_never_in_the_url(browser, server):
    """The browser's own record of the socket's address and the server's log line for the
    handshake (uvicorn logs the path with its query) both lack the key and any token=; the
    server accepted it, so it read the key from the bearer subprotocol (and answered "huashu":
    Chromium fails a handshake that offers subprotocols and gets none back)."""
    context, worker = browser
    urls = socket_urls(context)
    start = server["log"].stat().st_size
    chat, panel = open_pair(context, worker, server, server["key"])
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")
    time.sleep(0.3)
    chat.evaluate("huashuDemo.receive('发什么快递')")
    sync_api.expect(panel.get_by_test_id("intent")).to_have_attribute("data-intent", "logistics")
    assert urls, "the panel opened no WebSocket"
    for url in urls:
        assert url.endswith("/v1/ws") and "token" not in url and server["key"] not in url, url
    deadline = time.monotonic() + 5
    while "WebSocket /v1/ws" not in (logged := server["log"].read_text("utf-8", "replace")[start:]):
        assert time.monotonic() < deadline, "the server logged no handshake"
        time.sleep(0.1)
    handshakes = [line for line in logged.splitlines() if "WebSocket /v1/ws" in line]
    assert all('"WebSocket /v1/ws"' in line and "[accepted]" in line for line in handshakes), handshakes
    assert "token=" not in logged and server["key"] not in logged


def test_bad_key_shows_the_error_state(browser, server):
    context, worker = browser
    urls = socket_urls(context)
    _, panel = open_pair(context, worker, server, "hs_not-a-key")
    sync_api.expect(panel.get_by_test_id("status")).to_contain_text("拒绝了 API 密钥")
    sync_api.expect(panel.get_by_test_id("status")).to_have_attribute("data-state", "error")
    assert urls and all("hs_not-a-key" not in url and "token" not in url for url in urls)


def test_a_key_that_cannot_be_sent_shows_the_error_state_without_connecting(browser, server):
    """A key with a space or Chinese in it cannot be a subprotocol (the browser would throw):
    the panel says so and opens no socket."""
    context, worker = browser
    urls = socket_urls(context)
    _, panel = open_pair(context, worker, server, "hs_密钥 有空格")
    sync_api.expect(panel.get_by_test_id("status")).to_contain_text("API 密钥格式无效")
    sync_api.expect(panel.get_by_test_id("status")).to_have_attribute("data-state", "error")
    time.sleep(0.5)
    assert urls == []


def test_conversation_switch_follows_the_page(browser, server):
    context, worker = browser
    chat, panel = open_pair(context, worker, server, server["key"])
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")
    time.sleep(0.3)
    chat.evaluate("huashuDemo.receive('能便宜点吗')")
    sync_api.expect(panel.get_by_test_id("intent")).to_have_attribute("data-intent", "bargaining")
    chat.click("#conversations li:nth-child(2)")
    sync_api.expect(panel.get_by_test_id("suggestion")).to_have_count(0)
    chat.evaluate("huashuDemo.receive('什么时候发货')")
    sync_api.expect(panel.get_by_test_id("intent")).to_have_attribute("data-intent", "logistics")


def _open_options(context, extension_id: str):
    """The options page once it has read the stored settings: its save button is enabled only
    then, so typing before it would be overwritten by what it read."""
    options = context.new_page()
    options.goto(f"chrome-extension://{extension_id}/options/options.html")
    sync_api.expect(options.locator("button[type=submit]")).to_be_enabled()
    return options


def test_options_page_saves_the_settings(browser, server):
    context, worker = browser
    extension_id = worker.url.split("/")[2]
    options = _open_options(context, extension_id)
    options.fill("#server", server["base"] + "/ignored/path")
    options.fill("#key", "hs_密钥 有空格")  # could not be sent as a subprotocol: refused, nothing saved
    options.click("button[type=submit]")
    sync_api.expect(options.locator("#saved")).to_contain_text("API 密钥格式无效")
    assert worker.evaluate("chrome.storage.local.get(['huashu.key'])") == {}
    options.fill("#key", " hs_secret ")
    options.click("button[type=submit]")
    sync_api.expect(options.locator("#saved")).to_contain_text("已保存")
    assert english_words(options) == set()
    stored = worker.evaluate("chrome.storage.local.get(['huashu.server', 'huashu.key'])")
    assert stored == {"huashu.server": server["base"], "huashu.key": "hs_secret"}


DEMO_SELECTORS = {
    "messageList": "#messages",
    "message": ".message",
    "buyer": "[data-from=buyer]",
    "input": "#chat-input",
    "conversation": "#conversations li.active",
    "conversationAttr": "data-conversation-id",
}


def test_generic_adapter_set_in_the_options_page_reads_the_demo_chat(browser, server):
    """The demo adapter off, the generic one given the demo page's selectors: it still works."""
    context, worker = browser
    extension_id = worker.url.split("/")[2]
    options = _open_options(context, extension_id)
    options.fill("#server", server["base"])
    options.fill("#key", server["key"])
    options.uncheck("[name=adapter-demo]")
    options.fill("[name=generic-matches]", "http://127.0.0.1/*")
    for name, selector in DEMO_SELECTORS.items():
        options.fill(f"[name=generic-{name}]", selector)
    options.check("[name=adapter-generic]")
    options.click("button[type=submit]")
    sync_api.expect(options.locator("#saved")).to_contain_text("已保存")
    stored = worker.evaluate("chrome.storage.local.get('huashu.adapters')")["huashu.adapters"]
    assert stored["demo"] is False and stored["generic"] is True
    # The content script is registered for the shop's pages (here also the manifest's: loaded once).
    deadline = time.monotonic() + 5
    while not worker.evaluate("chrome.scripting.getRegisteredContentScripts()"):
        assert time.monotonic() < deadline, "the generic adapter's content script was not registered"
        time.sleep(0.1)
    chat, panel = open_pair(context, worker, server, server["key"])
    page_state = panel.get_by_test_id("page-state")
    sync_api.expect(page_state).to_have_attribute("data-state", "ok")
    sync_api.expect(page_state).to_contain_text("通用 · 会话 c1001")
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")
    time.sleep(0.3)
    chat.evaluate("huashuDemo.receive('我想退款')")
    sync_api.expect(panel.get_by_test_id("intent")).to_have_attribute("data-intent", "refund")
    insert = panel.get_by_test_id("insert")
    enabled = next(i for i in range(insert.count()) if insert.nth(i).is_enabled())
    insert.nth(enabled).click()
    sync_api.expect(chat.locator("#chat-input")).not_to_have_value("")
    assert chat.evaluate("document.querySelectorAll('#messages .message').length") == 1, "inserted, not sent"


def test_a_wrong_selector_shows_cannot_read_this_page(browser, server):
    context, worker = browser
    worker.evaluate(
        "(generic) => chrome.storage.local.set({'huashu.adapters': {demo: false},"
        " 'huashu.generic': generic})",
        {**DEMO_SELECTORS, "matches": "http://127.0.0.1/*", "messageList": "#no-such-list"},
    )
    _, panel = open_pair(context, worker, server, server["key"])
    page_state = panel.get_by_test_id("page-state")
    sync_api.expect(page_state).to_have_attribute("data-state", "unreadable", timeout=10000)
    sync_api.expect(page_state).to_have_text("无法读取此页面：通用适配器找不到消息列表（#no-such-list）")
    # The server is fine; the page is not.
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")


def test_latency_from_page_to_painted_suggestions(browser, server):
    """Buyer message appears in the page → suggestions painted in the panel (BENCHMARKS.md)."""
    context, worker = browser
    chat, panel = open_pair(context, worker, server, server["key"])
    sync_api.expect(panel.get_by_test_id("status")).to_have_text("已连接")
    time.sleep(0.3)
    texts = ["能便宜点吗", "发什么快递", "几天能到", "我想退款", "再考虑一下"]
    latencies = []
    for i in range(60):
        before = panel.evaluate("document.body.dataset.paintedAt || ''")
        arrived = chat.evaluate("(t) => huashuDemo.receive(t)", f"{texts[i % len(texts)]}{i}")
        panel.wait_for_function("(b) => (document.body.dataset.paintedAt || '') !== b", arg=before)
        latencies.append(float(panel.evaluate("document.body.dataset.paintedAt")) - arrived)
    latencies.sort()
    p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
    print(f"\nextension latency over {len(latencies)} messages: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    assert p50 > 0 and p95 < 1000  # the aim is under 100 ms; a shared CI machine gets slack


def test_reconnects_after_the_server_restarts(browser, server, tmp_path, monkeypatch):
    """The panel reconnects by itself; a buyer message that arrived while down is answered after."""
    from bench import service_bench

    context, worker = browser
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{server['database']}", "CACHE_DIR": str(tmp_path)}
    first = service_bench.Server(env)
    port = first.port
    monkeypatch.setattr(service_bench, "_free_port", lambda: port)
    try:
        chat, panel = open_pair(context, worker, {"base": first.base}, server["key"])
        status = panel.get_by_test_id("status")
        sync_api.expect(status).to_have_text("已连接")
        first.stop()
        sync_api.expect(status).to_contain_text("重试")
        time.sleep(0.3)
        chat.evaluate("huashuDemo.receive('发什么快递')")
        with service_bench.Server(env) as second:
            assert second.port == port
            sync_api.expect(status).to_have_text("已连接", timeout=20000)
            sync_api.expect(panel.get_by_test_id("intent")).to_have_attribute("data-intent", "logistics")
    finally:
        first.stop()


def test_the_socket_allows_the_extensions_origin_and_no_other(server):
    import asyncio
    import json

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from app.config import Settings

    (allowed,) = Settings().extension_origins
    url = f"ws://{server['base'].removeprefix('http://')}/v1/ws"
    protocols = ["huashu", f"bearer.{server['key']}"]

    async def scenario():
        async with connect(url, origin=allowed, subprotocols=protocols) as ws:
            assert ws.subprotocol == "huashu"  # never the key back
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
        async with connect(url, origin="https://evil.example", subprotocols=protocols) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4403
        async with connect(url, origin=allowed, subprotocols=["huashu", "bearer.hs_wrong"]) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4401
        # Old clients' ?token= still works (the server keeps it out of its log).
        async with connect(f"{url}?token={server['key']}", origin=allowed) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}

    asyncio.run(scenario())
