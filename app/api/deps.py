"""Route dependencies: the worker's assistant and editor, and the caller's checked key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.assistant import Assistant
from app.auth import Principal, Role, allows
from app.editing import CorpusEditor
from app.errors import ApiError


def get_assistant(request: Request) -> Assistant:
    return request.app.state.assistant


def get_editor(request: Request) -> CorpusEditor:
    return request.app.state.editor


# Declares the Bearer scheme in OpenAPI (so clients and the fuzzer know each keyed route's
# auth); the key itself is read below, to answer a missing one in the one error shape.
BEARER = HTTPBearer(auto_error=False, description="an API key: `huashu keys create --role …`")


def require(role: Role) -> Callable[..., Principal]:
    """Dependency: the caller's key, which must exist, be live and allow ``role``."""

    def check(
        request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Principal:
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
        limiter = request.app.state.rate_limiter
        if not limiter.allow(principal.key_id):
            wait = limiter.retry_after(principal.key_id)
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests for this key; retry in {wait} s",
                {"retry_after_s": wait},
                headers={"Retry-After": str(wait)},
            )
        return principal

    return check


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
EditorDep = Annotated[CorpusEditor, Depends(get_editor)]
AgentKey = Annotated[Principal, Depends(require(Role.AGENT))]
EditorKey = Annotated[Principal, Depends(require(Role.EDITOR))]
AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]
