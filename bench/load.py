"""Load generators, run in their own process so the server has its cores to itself.

    python -m bench.load '{"mode": "ws", "url": ..., "concurrency": 10, ...}'

prints one JSON object: answered messages, errors, throughput and latency percentiles.
Modes:
- ``ws``: each connection sends a frame and waits for its answer (closed loop), or keeps
  ``depth`` frames in flight (pipelined; answers come back in order per connection);
- ``ws_open``: connections send on a fixed schedule whatever the answers do (open loop);
  latency counts from the scheduled send time, so a stall cannot hide its queue;
- ``http``: keep-alive HTTP/1.1 connections POSTing to one route, closed loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


@dataclass
class Tally:
    warmup_until: float
    latencies: list[float] = field(default_factory=list)
    answered: int = 0  # warm-up included, for CPU per message
    errors: int = 0

    def record(self, sent: float, received: float, answer: str | bytes) -> None:
        self.answered += 1
        if '"type":"error"' in answer or '"error":{' in answer:
            self.errors += 1
        if sent >= self.warmup_until:
            self.latencies.append(received - sent)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _ws_closed(url: str, frames: list[str], depth: int, stop: float, tally: Tally, offset: int) -> None:
    async with connect(url, max_size=None, compression=None) as ws:
        in_flight: deque[float] = deque()
        window = asyncio.Semaphore(depth)

        async def receive() -> None:
            while True:
                answer = await ws.recv()
                tally.record(in_flight.popleft(), time.perf_counter(), answer)
                window.release()

        receiver = asyncio.create_task(receive())
        i = offset
        while time.perf_counter() < stop:
            await window.acquire()
            in_flight.append(time.perf_counter())
            await ws.send(frames[i % len(frames)])
            i += 1
        while in_flight and not receiver.done():
            await asyncio.sleep(0.001)
        receiver.cancel()


async def _ws_open(
    url: str, frames: list[str], start: float, interval: float, stop: float, tally: Tally
) -> None:
    """Sends frame k at ``start + k × interval``; frames alternate as the caller mixed them."""
    async with connect(url, max_size=None, compression=None) as ws:
        scheduled: deque[float] = deque()

        async def receive() -> None:
            while True:
                answer = await ws.recv()
                tally.record(scheduled.popleft(), time.perf_counter(), answer)

        receiver = asyncio.create_task(receive())
        k = 0
        while (when := start + k * interval) < stop:
            delay = when - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled.append(when)
            await ws.send(frames[k % len(frames)])
            k += 1
        deadline = time.perf_counter() + 5
        while scheduled and time.perf_counter() < deadline and not receiver.done():
            await asyncio.sleep(0.001)
        receiver.cancel()


async def _http(url: str, path: str, token: str, bodies: list[bytes], stop: float, tally: Tally, offset: int):
    """One keep-alive HTTP/1.1 connection, written by hand: a general client (httpx) spends
    more CPU per request than the server does, and the load would measure the client."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
    head += "Content-Type: application/json\r\n"
    requests = [f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body for body in bodies]
    i = offset
    try:
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            writer.write(requests[i % len(requests)])
            headers = await reader.readuntil(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(headers)
            body = await reader.readexactly(int(length.group(1)) if length else 0)
            failed = not headers.startswith(b"HTTP/1.1 2")
            tally.record(sent, time.perf_counter(), body.decode() if failed else "")
            i += 1
    finally:
        writer.close()


async def run(spec: dict) -> dict:
    concurrency, duration = spec["concurrency"], spec["duration"]
    frames: list[str] = spec["frames"]
    begin = time.perf_counter()
    warmup_until = begin + spec.get("warmup", 0.5)
    stop = warmup_until + duration
    tally = Tally(warmup_until)
    if spec["mode"] == "ws":
        await asyncio.gather(
            *(
                _ws_closed(spec["url"], frames, spec.get("depth", 1), stop, tally, i * 7)
                for i in range(concurrency)
            )
        )
    elif spec["mode"] == "ws_open":
        # Each connection sends every concurrency/rate seconds, staggered: the total is ``rate``.
        interval = concurrency / spec["rate"]
        start = begin + 1.0  # all connected before the schedule starts
        warmup_until = tally.warmup_until = start + spec.get("warmup", 0.5)
        stop = warmup_until + duration
        await asyncio.gather(
            *(
                _ws_open(
                    spec["url"],
                    frames[i:] + frames[:i],
                    start + i * interval / concurrency,
                    interval,
                    stop,
                    tally,
                )
                for i in range(concurrency)
            )
        )
    else:
        bodies = [frame.encode() for frame in frames]
        await asyncio.gather(
            *(
                _http(spec["url"], spec["path"], spec["token"], bodies, stop, tally, i * 7)
                for i in range(concurrency)
            )
        )
    measured = time.perf_counter() - warmup_until
    ordered = sorted(tally.latencies)
    return {
        "answered": tally.answered,
        "errors": tally.errors,
        "measured": len(ordered),
        "throughput": round(len(ordered) / measured, 1),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 3),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
    }


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # the client's loop matters less than the server's
        pass
    spec = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
