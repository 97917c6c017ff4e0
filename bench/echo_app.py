"""The transport limit: a bare FastAPI app on the same stack as the service.

It answers the same routes the benchmark loads — the WebSocket echoes each text frame,
the REST routes echo the body — with no parsing, auth or work, so the ratio of the
service's throughput to this one's is the share of the transport's capacity it keeps.

    uvicorn bench.echo_app:app --loop uvloop --http httptools --ws websockets
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.get("/readyz")
async def readyz() -> dict:
    return {"status": "ready"}


@app.post("/v1/suggest")
@app.post("/v1/lint")
async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


@app.websocket("/v1/ws")
async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
