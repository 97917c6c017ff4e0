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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    database = tmp_path_factory.mktemp("studio-db") / "huashu.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "CACHE_DIR": str(database.parent / "cache")}
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
def context(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    yield context
    context.close()


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
