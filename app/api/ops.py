"""Operations: probes, metrics and the admins' key listing."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import auth
from app.api.deps import AdminKey, AssistantDep
from app.errors import ERROR_RESPONSES, ErrorResponse
from app.metrics import REGISTRY
from app.schemas import Health, KeyOut

probes = APIRouter(tags=["operations"])
admin = APIRouter(prefix="/v1", tags=["admin"], responses=ERROR_RESPONSES)


@probes.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@probes.get(
    "/readyz", response_model=Health, responses={503: {"model": ErrorResponse, "description": "Not ready"}}
)
def readyz(assistant: AssistantDep) -> dict:
    """Readiness: the database answers and the reply index is loaded."""
    return assistant.readiness()


@probes.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@admin.get("/keys", response_model=list[KeyOut])
def list_keys(assistant: AssistantDep, _: AdminKey) -> list[dict]:
    """API keys (never the keys themselves, nor their hashes)."""
    return auth.list_keys(assistant.database)
