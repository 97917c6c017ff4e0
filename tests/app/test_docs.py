"""/docs and /redoc load their scripts and styles from the service itself, never another host."""

import re

import pytest


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_no_other_host(client, page):
    answer = client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    # Every address the page names: attributes, and the script's url / openapi settings.
    addresses = re.findall(r"""(?:src|href|spec-url|url)\s*[=:]\s*["']([^"']+)["']""", html)
    assert addresses, html
    assert not re.search(r"(?:https?:)?//", html)  # no absolute or protocol-relative address
    for address in addresses:
        assert address.startswith("/"), address
        fetched = client.get(address)
        assert fetched.status_code == 200, address
        assert len(fetched.content) > 100, address
    assert {"/openapi.json"} < set(addresses)
    assert any(a.endswith(".js") for a in addresses)


def test_swagger_ui_sends_the_document_to_no_validator(client):
    assert '"validatorUrl": null' in client.get("/docs").text
