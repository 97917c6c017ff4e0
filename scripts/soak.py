"""Soak: many agent WebSockets on the real server for a while, a shop-like mix of frames.

    .venv/bin/python scripts/soak.py --duration 600            # the documented 10-minute run
    .venv/bin/python scripts/soak.py --duration 120 --rate 200 # a short one

Starts ``huashu serve`` (bench.service_bench.Server) on a fresh SQLite file (or --database-url),
gives each connection its own agent key (as the README advises: one key per agent), opens
--connections sockets and sends, open-loop at --rate frames per second in all, buyer messages
(50 %), drafts as the agent types (35 %), feedback on a reply it was offered (10 %) and pings
(5 %). Each frame carries an id; answers are matched to it. Reports frames sent and answered,
errors by code, socket closes by code, latency p50/p99/max, and the server's RSS and open file
descriptors after the warm-up, every --sample-every seconds and at the end, and what the server
logged (lines, tracebacks, and how many of the keys: there must be none). Exits 1 when the
growth passes the bounds (--max-rss-growth-mb, --max-fd-growth), a frame went unanswered or a
key was logged. Not a test: a script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from bench.service_bench import Server, _tree, buyer_texts, cpu_seconds, draft_texts, rss_mb  # noqa: E402


def open_fds(pid: int) -> int:
    total = 0
    for member in _tree(pid):
        try:
            total += len(os.listdir(f"/proc/{member}/fd"))
        except OSError:
            continue
    return total


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.answered = 0
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.latencies: list[float] = []


async def agent(number: int, url: str, key: str, rate: float, stop: float, tally: Tally, texts) -> None:
    buyers, drafts = texts
    rng = random.Random(number)
    pending: dict[int, float] = {}
    offered: list[str] = []
    sequence = 0
    async with connect(
        url, subprotocols=[Subprotocol("huashu"), Subprotocol(f"bearer.{key}")], max_size=None
    ) as ws:

        async def read() -> None:
            async for raw in ws:
                answer = json.loads(raw)
                started = pending.pop(answer.get("in_reply_to"), None)
                if started is None:
                    continue
                tally.answered += 1
                tally.latencies.append(time.perf_counter() - started)
                if answer["type"] == "error":
                    tally.errors[answer["code"]] += 1
                elif answer["type"] == "suggestions":
                    offered[:] = [s["reply_id"] for s in answer["suggestions"]][:3] or offered

        reader = asyncio.create_task(read())
        try:
            # Spread the connections' first frames over one interval.
            await asyncio.sleep(rng.random() / rate)
            while time.perf_counter() < stop:
                sequence += 1
                roll = rng.random()
                frame: dict = {"id": sequence}
                if roll < 0.50:
                    frame |= {
                        "type": "buyer_message",
                        "conversation_id": f"soak-{number}-{sequence // 5}",
                        "text": rng.choice(buyers),
                    }
                elif roll < 0.85:
                    frame |= {"type": "draft", "text": rng.choice(drafts)}
                elif roll < 0.95 and offered:
                    frame |= {"type": "feedback", "reply_id": rng.choice(offered), "action": "used"}
                else:
                    frame |= {"type": "ping"}
                pending[sequence] = time.perf_counter()
                await ws.send(json.dumps(frame, ensure_ascii=False))
                tally.sent += 1
                # Open loop: exponential gaps around the connection's share of the rate.
                await asyncio.sleep(rng.expovariate(rate))
            deadline = time.perf_counter() + 5
            while pending and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
        except ConnectionClosed as closed:
            tally.closes[str(closed.rcvd.code if closed.rcvd else "none")] += 1
        finally:
            reader.cancel()
    if reader.done() and not reader.cancelled() and reader.exception():
        error = reader.exception()
        tally.closes[str(getattr(getattr(error, "rcvd", None), "code", type(error).__name__))] += 1


def sample(pid: int) -> dict:
    return {"rss_mb": rss_mb(pid), "open_fds": open_fds(pid), "cpu_s": round(cpu_seconds(pid), 1)}


async def soak(args, server: Server, keys: list[str]) -> dict:
    tally = Tally()
    texts = (buyer_texts(), draft_texts())
    url = f"ws://127.0.0.1:{server.port}/v1/ws"
    warmup = min(10.0, args.duration / 6)
    stop = time.perf_counter() + warmup + args.duration
    per_connection = args.rate / args.connections
    agents = [
        asyncio.create_task(agent(i, url, keys[i], per_connection, stop, tally, texts))
        for i in range(args.connections)
    ]
    await asyncio.sleep(warmup)
    start = sample(server.process.pid)
    sent_at_start, began = tally.sent, time.perf_counter()
    # The trend, not just two points: a leak climbs steadily, a warming cache levels off.
    series = [{"at_s": 0, **start}]
    while (left := stop - time.perf_counter()) > 0:
        await asyncio.sleep(min(args.sample_every, left))
        series.append({"at_s": round(time.perf_counter() - began), **sample(server.process.pid)})
    end = series[-1]
    measured_s = time.perf_counter() - began
    # The machine's load says how much of the latency is the server and how much the neighbours.
    load_1m = os.getloadavg()[0]
    sent_in_window = tally.sent - sent_at_start
    await asyncio.gather(*agents, return_exceptions=True)
    after = sample(server.process.pid)
    ordered = sorted(tally.latencies)
    return {
        "connections": args.connections,
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "warmup_s": warmup,
        "sent": tally.sent,
        "answered": tally.answered,
        "unanswered": tally.sent - tally.answered,
        "sent_per_s": round(sent_in_window / measured_s, 1),
        "errors": dict(tally.errors),
        "closes": dict(tally.closes),
        "latency_ms": {
            "p50": round(percentile(ordered, 0.50) * 1000, 2),
            "p99": round(percentile(ordered, 0.99) * 1000, 2),
            "max": round((ordered[-1] if ordered else 0) * 1000, 2),
        },
        "server": {"after_warmup": start, "end": end, "after_disconnect": after, "series": series},
        "server_cpu_percent": round(100 * (end["cpu_s"] - start["cpu_s"]) / measured_s, 1),
        "machine": {"cores": os.cpu_count(), "load_1m_at_end": round(load_1m, 2)},
        "growth": {
            "rss_mb": round(end["rss_mb"] - start["rss_mb"], 1),
            "open_fds": end["open_fds"] - start["open_fds"],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds measured (after a warm-up)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500, help="frames per second, all connections together")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, help="the server's port (default: any free one)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=40.0)
    parser.add_argument("--max-fd-growth", type=int, default=10)
    parser.add_argument("--sample-every", type=float, default=30, help="seconds between RSS/fd samples")
    args = parser.parse_args()

    from app import auth, store
    from bench import service_bench

    if args.port:  # a shared machine: keep to one's own ports
        service_bench._free_port = lambda: args.port

    with tempfile.TemporaryDirectory(prefix="huashu-soak-") as work:
        url = args.database_url or f"sqlite:///{work}/soak.db"
        database = store.connect(url)
        store.upgrade(database)
        keys = [
            auth.create_key(database, name=f"soak-{i}", role=auth.Role.AGENT)[0]
            for i in range(args.connections)
        ]
        database.dispose()
        env = {"DATABASE_URL": url, "CACHE_DIR": f"{work}/cache"}
        log = Path(work) / "server.log"
        with Server(env, workers=args.workers, log=log) as server:
            report = asyncio.run(soak(args, server, keys))
        logged = log.read_text(encoding="utf-8", errors="replace")
        # Issue 17 #5: no key in the log, however many sockets connect (each with its own key).
        report["log"] = {
            "lines": logged.count("\n"),
            "tracebacks": logged.count("Traceback"),
            "keys_logged": sum(logged.count(key) for key in keys),
        }
    growth = report["growth"]
    ok = (
        growth["rss_mb"] <= args.max_rss_growth_mb
        and growth["open_fds"] <= args.max_fd_growth
        and report["unanswered"] == 0
        and report["log"]["keys_logged"] == 0
    )
    report["bounds"] = {"rss_mb": args.max_rss_growth_mb, "open_fds": args.max_fd_growth, "ok": ok}
    server_start, server_end = report["server"]["after_warmup"], report["server"]["end"]
    series = report["server"]["series"]
    print(
        f"{report['connections']} sockets, {report['sent_per_s']} frames/s for {args.duration:.0f} s: "
        f"sent {report['sent']}, answered {report['answered']}, errors {report['errors'] or 0}, "
        f"closes {report['closes'] or 0}\n"
        f"latency p50 {report['latency_ms']['p50']} ms, p99 {report['latency_ms']['p99']} ms, "
        f"max {report['latency_ms']['max']} ms; server CPU {report['server_cpu_percent']} % of one core, "
        f"machine load {report['machine']['load_1m_at_end']} on {report['machine']['cores']} cores\n"
        f"server RSS {server_start['rss_mb']} → {server_end['rss_mb']} MB, open fds "
        f"{server_start['open_fds']} → {server_end['open_fds']} (bounds +{args.max_rss_growth_mb} MB, "
        f"+{args.max_fd_growth}): {'ok' if ok else 'EXCEEDED'}\n"
        f"RSS every {args.sample_every:g} s: {' '.join(str(s['rss_mb']) for s in series)} MB\n"
        f"server log: {report['log']['lines']} lines, {report['log']['tracebacks']} tracebacks, "
        f"{report['log']['keys_logged']} keys"
    )
    print(json.dumps(report, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
