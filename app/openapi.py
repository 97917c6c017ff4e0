"""The OpenAPI document, made true to the running service (issue 17): FastAPI's document from
the routes and models, plus what the edge and the settings enforce and no model says.

- Every string a request sends (path, query, JSON body, a mapping's keys) matches
  ``CLEAN_PATTERN``: app/guard.py refuses control characters anywhere, before any route.
- A message's ``text`` is at most ``MAX_TEXT_CHARS`` characters (413 text_too_long beyond).

``tests/app/test_openapi_fuzz.py`` runs schemathesis over the live document to keep it so.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from app.config import Settings
from app.schemas import CLEAN_PATTERN, MESSAGE_PATTERN

_REF = "#/components/schemas/"


def install(app: FastAPI, settings: Settings) -> None:
    """``app.openapi()`` (and so /openapi.json) answers the document described above."""

    made = app.openapi  # FastAPI's own: builds the document once and keeps it

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = edge_rules(made(), max_text_chars=settings.max_text_chars)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def edge_rules(document: dict[str, Any], *, max_text_chars: int) -> dict[str, Any]:
    """``document`` with the edge's rules on every request string (see the module's doc)."""
    components = document.get("components", {}).get("schemas", {})
    seen: set[str] = set()

    def strings(schema: dict[str, Any]) -> None:
        ref = schema.get("$ref")
        if ref is not None:
            name = ref.removeprefix(_REF)
            if name not in seen:
                seen.add(name)
                strings(components[name])
            return
        if schema.get("type") == "string":
            if schema.get("pattern") == MESSAGE_PATTERN:
                schema["maxLength"] = max_text_chars
            elif not {"pattern", "enum", "const", "format"} & schema.keys():
                schema["pattern"] = CLEAN_PATTERN
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for inner in schema.get(key, []):
                strings(inner)
        for inner in schema.get("properties", {}).values():
            strings(inner)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                strings(schema[key])
        if isinstance(schema.get("additionalProperties"), dict):
            schema["propertyNames"] = {"pattern": CLEAN_PATTERN}

    for path in document.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                strings(parameter.get("schema", {}))
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                strings(content["application/json"].get("schema", {}))
    return document
