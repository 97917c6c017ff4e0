"""The corpus as one file, for editors who work in a spreadsheet or a text editor.

One document, top-level ``replies`` and ``lint_rules`` lists, each item shaped as in
``scripts_corpus/`` (plus ``status`` / ``enabled``, ``shop_id`` and ``version``), as YAML or
JSON; CSV holds the replies alone, one a row, lists joined by ``|`` and slots as JSON.
Parsing keeps where each item starts, so a refusal names its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from app.errors import ApiError

Format = Literal["yaml", "csv", "json"]
FORMATS: tuple[Format, ...] = ("yaml", "csv", "json")
MEDIA_TYPES: dict[Format, str] = {
    "yaml": "application/yaml",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
_FROM_MEDIA_TYPE: dict[str, Format] = {
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "text/csv": "csv",
    "application/json": "json",
}
REPLY_FIELDS = ("id", "status", "shop_id", "intents", "text", "triggers", "tags", "slots", "version")
RULE_FIELDS = ("id", "enabled", "category", "severity", "kind", "phrases", "not_before", "not_after",
               "suggestion", "version")  # fmt: skip
CSV_LIST_SEPARATOR = "|"
_CSV_LISTS = ("intents", "triggers", "tags")


@dataclass
class Item:
    """One entry of the file, as read, with where it starts (1-based line; None in JSON)."""

    kind: Literal["reply", "lint_rule"]
    index: int
    line: int | None
    fields: Any  # a mapping when well formed; anything else is refused item by item


@dataclass
class Document:
    replies: list[Item] = field(default_factory=list)
    rules: list[Item] = field(default_factory=list)


def format_of(content_type: str | None, requested: str | None) -> Format:
    """``?format=`` if given, else the body's Content-Type; 415 when neither names one."""
    if requested:
        if requested not in FORMATS:
            raise ApiError(422, "invalid_request", f"format must be one of {', '.join(FORMATS)}")
        return requested
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in _FROM_MEDIA_TYPE:
        return _FROM_MEDIA_TYPE[media_type]
    raise ApiError(
        415,
        "unsupported_media_type",
        "send the file as application/yaml, text/csv or application/json, or say ?format=yaml|csv|json",
    )


_FROM_SUFFIX: dict[str, Format] = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".json": "json"}


@dataclass
class Upload:
    """One part of a multipart/form-data body."""

    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


class MultipartReader:
    """The parts of a ``multipart/form-data`` body (the studio's file upload), fed as it
    arrives (python-multipart's streaming parser); the caller bounds the size."""

    def __init__(self, content_type: str) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise _malformed("the multipart body has no boundary in its Content-Type", None)
        self.parts: list[Upload] = []
        self._headers: dict[str, str] = {}
        self._field = self._value = b""
        self._data: list[bytes] = []
        self._ended = False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._more("_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._more("_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_part_data": lambda data, start, end: self._data.append(data[start:end]),
            "on_part_end": self._part_end,
            "on_end": self._end,
        })  # fmt: skip

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise _malformed(f"not a valid multipart body: {exc}", None) from None

    def file(self, requested: str | None) -> tuple[bytes, Format]:
        """The one uploaded file (the part named ``file``, or the only part with a file name)
        and its format: ``?format=``, else the part's Content-Type, else its file name's suffix."""
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            raise _malformed(f"not a valid multipart body: {exc}", None) from None
        if not self._ended:
            raise _malformed("the multipart body ended before its closing boundary", None)
        named = [part for part in self.parts if part.name == "file"]
        files = named or [part for part in self.parts if part.filename]
        if len(files) != 1:
            raise ApiError(
                422, "invalid_request", "send exactly one file, in a form field named 'file'",
                [{"loc": ["body", "file"], "msg": f"{len(files)} files found", "type": "value_error"}],
            )  # fmt: skip
        upload = files[0]
        if not requested:
            media_type = (upload.content_type or "").split(";")[0].strip().lower()
            suffix = Path(upload.filename or "").suffix.lower()
            requested = _FROM_MEDIA_TYPE.get(media_type) or _FROM_SUFFIX.get(suffix)
        return upload.data, format_of(None, requested)

    def _more(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _part_begin(self) -> None:
        self._headers, self._data = {}, []

    def _header_end(self) -> None:
        # Latin-1 keeps the bytes as they came (parse_options_header encodes back to Latin-1;
        # a UTF-8 decoded name it could not encode was a 500); names are read as UTF-8 below.
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field = self._value = b""

    def _part_end(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        name, filename = options.get(b"name"), options.get(b"filename")
        self.parts.append(Upload(
            name=None if name is None else name.decode("utf-8", "replace"),
            filename=None if filename is None else filename.decode("utf-8", "replace"),
            content_type=self._headers.get("content-type"),
            data=b"".join(self._data),
        ))  # fmt: skip
        self._data = []

    def _end(self) -> None:
        self._ended = True


def _malformed(message: str, line: int | None) -> ApiError:
    return ApiError(422, "malformed_import", message, {"line": line})


def parse(body: bytes, fmt: Format) -> Document:
    """The file's items; 422 ``malformed_import`` naming the line when it cannot be read at all."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _malformed(
            f"the file is not UTF-8 text: {exc.reason}", body.count(b"\n", 0, exc.start) + 1
        ) from None
    if fmt == "csv":
        return _parse_csv(text)
    if fmt == "json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise _malformed(f"not valid JSON: {exc.msg}", exc.lineno) from None
        return _document(data, {}, {})
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise _malformed(f"not valid YAML: {exc.problem or exc}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise _malformed(f"not valid YAML: {exc}", None) from None
    return _document(data, _item_lines(root, "replies"), _item_lines(root, "lint_rules"))


def _item_lines(root: yaml.Node | None, key: str) -> dict[int, int]:
    if not isinstance(root, yaml.MappingNode):
        return {}
    for name, value in root.value:
        if getattr(name, "value", None) == key and isinstance(value, yaml.SequenceNode):
            return {index: node.start_mark.line + 1 for index, node in enumerate(value.value)}
    return {}


def _document(data: Any, reply_lines: dict[int, int], rule_lines: dict[int, int]) -> Document:
    if not isinstance(data, dict) or not ({"replies", "lint_rules"} & set(data)):
        raise _malformed("the document must be a mapping with a 'replies' and/or a 'lint_rules' list", 1)
    document = Document()
    for key, kind, lines, into in (
        ("replies", "reply", reply_lines, document.replies),
        ("lint_rules", "lint_rule", rule_lines, document.rules),
    ):
        items = data.get(key)
        items = [] if items is None else items  # only null is none: false or 0 is no list
        if not isinstance(items, list):
            raise _malformed(f"'{key}' must be a list", None)
        into.extend(Item(kind, index, lines.get(index), entry) for index, entry in enumerate(items))  # type: ignore[arg-type]
    return document


def _parse_csv(text: str) -> Document:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    document = Document()
    start = 1  # where the row being read began: an unclosed quote fails at the end of the file
    try:
        header = reader.fieldnames or []
        missing = {"id", "text", "intents"} - set(header)
        if missing:
            raise _malformed(f"the header row lacks {', '.join(sorted(missing))}", 1)
        unknown = set(header) - set(REPLY_FIELDS)
        if unknown:
            raise _malformed(f"unknown columns: {', '.join(sorted(unknown))}", 1)
        start = reader.line_num + 1
        for index, row in enumerate(reader):
            if None in row or None in row.values():
                raise _malformed("this row has a different number of fields than the header", start)
            document.replies.append(Item("reply", index, start, _csv_reply(row, start)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _malformed(f"not valid CSV (the row starting here): {exc}", start) from None
    return document


def _csv_reply(row: dict[str, str], line: int) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for name, value in row.items():
        value = value.strip()
        if name in _CSV_LISTS:
            entry[name] = [part.strip() for part in value.split(CSV_LIST_SEPARATOR) if part.strip()]
        elif name == "slots":
            try:
                entry[name] = orjson.loads(value) if value else {}
            except orjson.JSONDecodeError:
                raise _malformed('slots must be a JSON object, e.g. {"days": "2"}', line) from None
        elif name == "version":
            entry[name] = int(value) if value.isdigit() else (value or None)
        elif value or name not in ("shop_id", "status"):
            entry[name] = value
    return entry


def render(replies: Iterable[dict], rules: Iterable[dict], fmt: Format) -> bytes:
    """The corpus as one file (CSV: the replies alone)."""
    reply_items = [{name: reply[name] for name in REPLY_FIELDS} for reply in replies]
    rule_items = [{name: rule[name] for name in RULE_FIELDS} for rule in rules]
    if fmt == "json":
        return orjson.dumps({"replies": reply_items, "lint_rules": rule_items}, option=orjson.OPT_INDENT_2)
    if fmt == "yaml":
        document = {"replies": reply_items, "lint_rules": rule_items}
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000).encode()
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=REPLY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for item in reply_items:
        row = dict(item)
        for name in _CSV_LISTS:
            row[name] = CSV_LIST_SEPARATOR.join(row[name])
        row["slots"] = orjson.dumps(row["slots"]).decode() if row["slots"] else ""
        row["shop_id"] = row["shop_id"] or ""
        writer.writerow(row)
    return out.getvalue().encode()
