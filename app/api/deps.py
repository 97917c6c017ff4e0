"""Route dependencies: the worker's assistant and editor, and the caller's checked key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from app.assistant import Assistant
from app.auth import Principal, Role, allows
from app.editing import CorpusEditor
from app.errors import ApiError


def get_assistant(request: Request) -> Assistant:
    return request.app.state.assistant


def get_editor(request: Request) -> CorpusEditor:
    return request.app.state.editor


def require(role: Role) -> Callable[[Request], Principal]:
    """Dependency: the caller's key, which must exist, be live and allow ``role``."""

    def check(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise ApiError(401, "unauthorized", "send the API key as 'Authorization: Bearer KEY'")
        principal = request.app.state.keys.check(key.strip())
        if principal is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key")
        if not allows(principal.role, role):
            raise ApiError(
                403, "forbidden", f"this key's role ({principal.role}) may not do this; {role} needed"
            )
        if not request.app.state.rate_limiter.allow(principal.key_id):
            retry = str(request.app.state.rate_limiter.retry_after_s)
            raise ApiError(
                429,
                "rate_limited",
                "too many requests for this key; slow down",
                headers={"Retry-After": retry},
            )
        return principal

    return check


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
EditorDep = Annotated[CorpusEditor, Depends(get_editor)]
AgentKey = Annotated[Principal, Depends(require(Role.AGENT))]
EditorKey = Annotated[Principal, Depends(require(Role.EDITOR))]
AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]
