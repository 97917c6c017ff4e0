"""The demo seller chat page, for trying the browser extension and for its tests."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

_PAGE = Path(__file__).resolve().parents[1] / "demo" / "chat.html"

router = APIRouter()


@router.get("/demo/chat", response_class=HTMLResponse, include_in_schema=False)
def demo_chat() -> HTMLResponse:
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))
