"""The OpenAPI document itself (issue 17 #7), read without a server: each route declares the
statuses it can answer in the one error shape, 200 bodies are real models, request strings
carry the edge's rules, and 405 names every method at the path. The live server is fuzzed
against it in test_openapi_fuzz.py."""

from __future__ import annotations

import unicodedata

import pytest
from fastapi.testclient import TestClient

from app.schemas import CLEAN_PATTERN, ID_PATTERN, MESSAGE_PATTERN, visible

ERROR_REF = "#/components/schemas/ErrorResponse"
MAX_TEXT_CHARS = 321  # not the default, to see the setting reach the document


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from app.config import Settings
    from app.main import create_app

    directory = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        database_url=f"sqlite:///{directory / 'h.db'}", cache_dir=directory, max_text_chars=MAX_TEXT_CHARS
    )
    return create_app(settings)


@pytest.fixture(scope="module")
def document(app) -> dict:
    return app.openapi()


def _operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method.upper(), operation


def _resolve(document, schema: dict) -> dict:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_every_route_declares_the_errors_it_can_answer(document):
    for path, method, operation in _operations(document):
        statuses = set(operation["responses"])
        # What the edge answers before any route: Host, headers, controls, size, slow body.
        assert {"400", "408", "413", "422", "431"} <= statuses, (method, path)
        keyed = path.startswith("/v1/")
        assert keyed == bool(operation.get("security")), (method, path)
        if keyed:
            assert {"401", "429", "503"} <= statuses, (method, path)
            # Every live key may call the agents' routes; the rest need an editor or admin.
            agents = path in ("/v1/suggest", "/v1/classify", "/v1/lint", "/v1/feedback")
            assert ("403" in statuses) is not agents, (method, path)
        if "{" in path or path == "/v1/feedback":
            assert "404" in statuses, (method, path)
        if method in ("PUT", "PATCH", "DELETE") or (
            method == "POST" and path in ("/v1/replies", "/v1/lint-rules")
        ):
            assert "409" in statuses, (method, path)
        for status, response in operation["responses"].items():
            if status[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, status)
    assert document["paths"]["/readyz"]["get"]["responses"]["503"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_json_answers_are_models_not_strings(document):
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if status.startswith("2") and schema is not None:
                assert schema.get("type") != "string", (method, path, status)
    healthz = document["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]
    assert _resolve(document, healthz["schema"])["properties"]["status"] == {
        "const": "ok",
        "title": "Status",
        "type": "string",
    }
    readyz = document["paths"]["/readyz"]["get"]["responses"]["200"]["content"]["application/json"]
    ready = _resolve(document, readyz["schema"])
    assert {"status", "replies", "corpus_version", "worker", "corpus_loaded_at"} == set(ready["required"])
    keys = document["paths"]["/v1/keys"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert keys["type"] == "array" and "prefix" in _resolve(document, keys["items"])["properties"]
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in metrics


def _strings(document, schema: dict, where: str):
    """Every string schema inside ``schema`` (following references), with where it is."""
    schema = _resolve(document, schema)
    if schema.get("type") == "string":
        yield where, schema
    for inner in schema.get("anyOf", []):
        yield from _strings(document, inner, where)
    for name, inner in schema.get("properties", {}).items():
        yield from _strings(document, inner, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _strings(document, schema[key], f"{where}[]")


def test_request_strings_carry_the_edges_rules(document):
    messages = 0
    for path, method, operation in _operations(document):
        places = [(f"{p['in']}:{p['name']}", p["schema"]) for p in operation.get("parameters", [])]
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None and path != "/v1/corpus/import":  # a file, not a request model
            model = _resolve(document, body["schema"])
            assert model.get("additionalProperties") is False, (method, path)
            places.append(("body", body["schema"]))
        for where, schema in places:
            for inner, string in _strings(document, schema, where):
                if "enum" in string or "const" in string or "format" in string:
                    continue
                # No control characters: CLEAN_PATTERN or a stricter pattern of its own.
                assert string.get("pattern") in (CLEAN_PATTERN, MESSAGE_PATTERN, ID_PATTERN) or (
                    string.get("pattern", "").startswith("^[") or string.get("pattern", "").startswith("^2")
                ), (method, path, inner, string)
                if string.get("pattern") == MESSAGE_PATTERN:
                    messages += 1
                    if inner.endswith(".text"):
                        assert string["maxLength"] == MAX_TEXT_CHARS, (method, path, inner)
    assert messages >= 4  # suggest, classify, lint texts and preview's messages
    path_id = document["paths"]["/v1/replies/{reply_id}"]["get"]["parameters"][0]["schema"]
    assert path_id["pattern"] == ID_PATTERN and path_id["maxLength"] == 120


def test_visible_is_the_empty_text_rule_on_every_bmp_character():
    """MESSAGE_PATTERN's class of invisible characters is whitespace, controls and format
    characters, as Unicode (this Python's) has them."""
    for code in range(0x10000):
        ch = chr(code)
        assert visible(ch) is not (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")), hex(code)
    assert visible("？？？") and not visible("\u200b\u3000\u200d ")


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/replies/some-id", "DELETE, GET, PATCH, PUT"),
        ("/v1/replies/preview", "POST"),  # the sub-resource, not a reply named preview
        ("/v1/lint-rules/impact", "POST"),
        ("/v1/replies", "GET, POST"),
        ("/v1/keys", "GET"),
        ("/healthz", "GET"),
    ],
)
def test_a_405_names_every_method_at_the_path(app, path, allow):
    client = TestClient(app)  # no lifespan: routing answers before any route runs
    answer = client.request("OPTIONS", path)
    assert answer.status_code == 405 and answer.headers["allow"] == allow
    assert answer.json()["error"]["code"] == "method_not_allowed"
