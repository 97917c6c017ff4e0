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
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from app import logs, openapi, store
from app.api import agents, analytics, demo, docs, editors, ops, ws
from app.assistant import Assistant
from app.auth import KeyChecker, RateLimiter
from app.config import Settings, describe_database, get_settings
from app.editing import CorpusEditor
from app.errors import ApiError, JSONBytesResponse, install_handlers
from app.guard import RequestGuard
from app.index_cache import build_engine
from app.metrics import MetricsMiddleware
from app.sync import CorpusSync
from classifiers import Engine

log = logging.getLogger("huashu")
# The script editors' studio: static files shipped in the package (README "The studio").
STUDIO_DIR = Path(__file__).with_name("studio")


class StudioFiles(StaticFiles):
    """The studio's files. It routes by #fragment, so no path under /studio/ is a client route:
    a missing file is the one JSON 404, naming the path (not index.html, not Starlette's text)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except StarletteHTTPException as exc:
            if exc.status_code != 404:
                raise
            raise ApiError(404, "not_found", f"no studio file at {scope['path']}") from None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        logs.install()  # again: the server has set up its handlers by now
        database = store.connect(settings.database_url)
        if store.prepare(database):
            log.info("seeded the corpus from scripts_corpus/")
        base = Engine.load(replies=[], rules=[], context=settings.intent_context)
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
        # Open sockets' keys are asked again twice per TTL: a revocation closes them within it.
        app.state.sockets = ws.OpenSockets(
            app.state.keys, max(0.25, settings.key_cache_ttl_s / 2), settings.max_sockets_per_key
        )
        log.info(
            "ready: database %s, corpus version %d, %d replies, %d lint rules",
            describe_database(settings.database_url),
            version,
            engine.index.size,
            len(engine.rules),
        )
        polling = asyncio.create_task(sync.run())
        watching = asyncio.create_task(app.state.sockets.run())
        yield
        for task in (polling, watching):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await sync.close()
        await assistant.close()
        database.dispose()

    app = FastAPI(
        title="Huashu 话术",
        version="0.1.0",
        description="Reply assist for e-commerce customer service: intent, approved replies, draft lint.",
        lifespan=lifespan,
        default_response_class=JSONBytesResponse,
        docs_url=None,  # served by app/api/docs.py with local files, not a CDN's
        redoc_url=None,
        # No redirect to the slashed path: it would be built from the client's Host header.
        redirect_slashes=False,
    )
    install_handlers(app)
    openapi.install(app, settings)  # the document says what the edge and the settings enforce
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
    docs.install(app)
    # Inside CORS, so that a browser can read the guard's refusals too.
    app.add_middleware(
        RequestGuard,
        limit=settings.max_frame_bytes,
        larger={editors.IMPORT_PATH: settings.max_import_bytes},
        allowed_hosts=settings.allowed_hosts,
        max_headers=settings.max_headers,
        body_timeout_s=settings.body_timeout_s,
    )
    app.mount("/studio", StudioFiles(directory=STUDIO_DIR, html=True), name="studio")

    # Slash redirects are off (they are built from the Host header); this one is relative.
    @app.get("/studio", include_in_schema=False)
    def studio_root() -> RedirectResponse:
        return RedirectResponse("studio/", status_code=307)

    if settings.cors_origins or settings.extension_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[*settings.cors_origins, *settings.extension_origins],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware)
    return app


app = create_app()
