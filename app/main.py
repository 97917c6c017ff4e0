"""The FastAPI application: ``uvicorn app.main:app`` or ``huashu serve``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from app import store
from app.api import agents, analytics, demo, editors, ops, ws
from app.assistant import Assistant
from app.auth import KeyChecker, RateLimiter
from app.config import Settings, get_settings
from app.editing import CorpusEditor
from app.errors import ApiError, JSONBytesResponse, install_handlers
from app.index_cache import build_engine
from app.metrics import MetricsMiddleware
from app.sync import CorpusSync
from classifiers import Engine

log = logging.getLogger("huashu")
# The script editors' studio: static files shipped in the package (README "The studio").
STUDIO_DIR = Path(__file__).with_name("studio")


class BodyLimitMiddleware:
    """Refuses HTTP bodies larger than the limit before they are read (413)."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = larger or {}  # path → its own limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            limit = self.larger.get(scope["path"], self.limit)
            if length is not None and length.isdigit() and int(length) > limit:
                error = ApiError(413, "body_too_large", f"request bodies are limited to {limit} bytes")
                await JSONBytesResponse(error.body(), status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        database = store.connect(settings.database_url)
        if store.prepare(database):
            log.info("seeded the corpus from scripts_corpus/")
        base = Engine.load(replies=[], rules=[])
        built = build_engine(database, base, settings.cache_dir, in_child_from=settings.build_in_child_from)
        engine, version = built.engine, built.version
        # What was loaded lives as long as the process: keep the collector from rescanning it.
        gc.freeze()
        assistant = Assistant(engine, version, database, settings)
        sync = CorpusSync(assistant, built)
        app.state.assistant = assistant
        app.state.sync = sync
        app.state.editor = CorpusEditor(database, lambda: assistant.engine, sync.refresh_now)
        app.state.keys = KeyChecker(database, settings.key_cache_ttl_s)
        app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
        log.info(
            "ready: corpus version %d, %d replies, %d lint rules",
            version,
            engine.index.size,
            len(engine.rules),
        )
        polling = asyncio.create_task(sync.run())
        yield
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await sync.close()
        await assistant.close()
        database.dispose()

    app = FastAPI(
        title="Huashu 话术",
        version="0.1.0",
        description="Reply assist for e-commerce customer service: intent, approved replies, draft lint.",
        lifespan=lifespan,
        default_response_class=JSONBytesResponse,
    )
    install_handlers(app)
    routers = (
        ops.probes,
        agents.router,
        editors.replies,
        editors.rules,
        editors.audit,
        editors.corpus,
        analytics.router,
        ops.admin,
        ws.router,
        demo.router,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/studio", StaticFiles(directory=STUDIO_DIR, html=True), name="studio")
    if settings.cors_origins or settings.extension_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[*settings.cors_origins, *settings.extension_origins],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_frame_bytes,
        larger={editors.IMPORT_PATH: settings.max_import_bytes},
    )
    app.add_middleware(MetricsMiddleware)
    return app


app = create_app()
