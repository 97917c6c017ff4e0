"""Prometheus metrics for the service, in their own registry."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "huashu_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "huashu_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
WS_OPEN = Gauge("huashu_websockets_open", "Open WebSocket connections", registry=REGISTRY)
WS_FRAMES = Counter("huashu_ws_frames_total", "WebSocket frames handled", ["type"], registry=REGISTRY)
WS_LATENCY = Histogram(
    "huashu_ws_frame_seconds",
    "Time to answer one WebSocket frame",
    ["type"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
    registry=REGISTRY,
)
SUGGESTIONS = Counter("huashu_suggestions_total", "Suggestions served", ["intent"], registry=REGISTRY)
SUGGESTION_EVENTS = Counter(
    "huashu_suggestion_events_total",
    "Answered buyer messages recorded for the analytics (written) or lost (dropped)",
    ["outcome"],
    registry=REGISTRY,
)


@cache
def child(metric: Counter | Histogram, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once: ``labels`` takes a lock and builds a key on
    every call, a few µs per frame. Every label here has a small fixed set of values."""
    return metric.labels(*values)


class MetricsMiddleware:
    """Counts HTTP requests by route template (not raw path, which would explode labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            child(REQUESTS, scope["method"], route, str(status)).inc()
            child(LATENCY, route).observe(time.perf_counter() - start)
