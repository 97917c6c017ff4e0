"""Operations: probes, metrics and the admins' key listing."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import auth
from app.api.deps import AdminKey, AssistantDep
from app.errors import EDGE, KEYED, errors
from app.metrics import REGISTRY
from app.schemas import KeyOut, Liveness, Readiness

probes = APIRouter(tags=["operations"], responses=EDGE)
admin = APIRouter(prefix="/v1", tags=["admin"], responses=KEYED)


@probes.get("/healthz", response_model=Liveness)
async def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@probes.get("/readyz", response_model=Readiness, responses=errors(503))
def readyz(assistant: AssistantDep) -> dict:
    """Readiness: the database answers and the reply index is loaded."""
    return assistant.readiness()


@probes.get(
    "/metrics",
    # A plain Response, so that the errors stay declared as JSON (as they are answered).
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@admin.get("/keys", response_model=list[KeyOut])
def list_keys(assistant: AssistantDep, _: AdminKey) -> list[dict]:
    """API keys (never the keys themselves, nor their hashes)."""
    return auth.list_keys(assistant.database)
