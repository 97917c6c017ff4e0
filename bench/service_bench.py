"""The service benchmark: ``huashu bench`` (see BENCHMARKS.md for the figures).

Starts the real server (``huashu serve``: uvicorn, uvloop, httptools, websockets, access
log off) and, in the same run, a bare echo app on exactly that stack. Load comes from
real clients in another process (``bench.load``). These machines are shared and noisy,
so the figures that matter are ratios against the echo measured minutes apart, and the
server's CPU time per message, read from /proc, which does not depend on the client.

Messages are the real buyer messages in ../shared/data plus the seed guides' phrasings
(the corpus triggers); drafts are the lint cases and the approved replies.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TextIO

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEV_MESSAGES = ROOT.parent / "shared" / "data" / "dev_buyer_messages.jsonl"
LINT_CASES = ROOT / "eval" / "lint_cases.jsonl"
TICKS = os.sysconf("SC_CLK_TCK")
ECHO_TOKEN = "hs_" + "e" * 43  # same header size as a real key; the echo ignores it


# ---- material -------------------------------------------------------------------------


def buyer_texts() -> list[str]:
    from classifiers.corpus import load_replies

    texts = []
    if DEV_MESSAGES.exists():
        texts = [
            json.loads(line)["text"] for line in DEV_MESSAGES.read_text("utf-8").splitlines() if line.strip()
        ]
    return texts + [trigger for reply in load_replies() for trigger in reply.triggers]


def draft_texts() -> list[str]:
    from classifiers.corpus import load_replies

    cases = [json.loads(line)["text"] for line in LINT_CASES.read_text("utf-8").splitlines() if line.strip()]
    return cases + [reply.text for reply in load_replies()]


def buyer_frame(i: int, text: str) -> str:
    frame = {"type": "buyer_message", "id": i, "conversation_id": f"bench-{i % 997}", "text": text}
    return json.dumps(frame, ensure_ascii=False)


def draft_frame(i: int, text: str) -> str:
    return json.dumps({"type": "draft", "id": i, "text": text}, ensure_ascii=False)


def ping_frame(i: int) -> str:
    return json.dumps({"type": "ping", "id": i})


# ---- processes ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers are children of its supervisor)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def rss_mb(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


class Server:
    """``huashu serve`` in a subprocess; ``cold_start_s`` is process start to /readyz ready."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        app: str = "app.main:app",
        workers: int = 1,
        args: tuple[str, ...] = (),
        log: Path | None = None,
    ) -> None:
        """``args`` are more ``huashu serve`` options (a later one wins); ``log``: a file that
        gets the server's stdout and stderr (its logs) instead of a pipe."""
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        command = [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        command += ["--app", app, "--workers", str(workers), *args]
        started = time.perf_counter()
        self.log = log
        self._log_file = log.open("ab") if log is not None else None
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=self._log_file or subprocess.DEVNULL,  # uvicorn's access log goes to stdout
            stderr=self._log_file or subprocess.PIPE,
        )
        deadline = started + 600
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.process.kill()
                self.process.wait()
                stderr = self.log.read_bytes() if self.log else self.process.stderr.read()  # type: ignore[union-attr]
                self.stop()
                raise RuntimeError(f"server did not start: {stderr.decode()[-3000:]}")
            time.sleep(0.01)
        self.cold_start_s = round(time.perf_counter() - started, 3)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        if self._log_file is not None:
            self._log_file.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_load(spec: dict, *, processes: int = 1) -> dict:
    """Runs ``bench.load`` in ``processes`` client processes at once and merges their answers."""
    share = max(1, spec["concurrency"] // processes)
    clients = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.load"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for client in clients:
        part = {**spec, "concurrency": share}
        if "rate" in spec:
            part["rate"] = spec["rate"] / processes
        client.stdin.write(json.dumps(part, ensure_ascii=False))
        client.stdin.close()
    results = [json.loads(client.stdout.read()) for client in clients]
    for client in clients:
        client.wait()
    if len(results) == 1:
        return results[0]
    merged = {key: sum(r[key] for r in results) for key in ("answered", "errors", "measured", "throughput")}
    # Percentiles do not merge exactly; the worst client's is the honest bound.
    merged.update({key: max(r[key] for r in results) for key in ("p50_ms", "p95_ms", "p99_ms")})
    return merged


def measure(server: Server, spec: dict, *, processes: int = 1) -> dict:
    """One load case against ``server``: the client's figures plus server CPU per message and RSS."""
    cpu_before = cpu_seconds(server.process.pid)
    result = run_load(spec, processes=processes)
    cpu = cpu_seconds(server.process.pid) - cpu_before
    result["cpu_us_per_msg"] = round(cpu / max(1, result["answered"]) * 1e6, 1)
    result["rss_mb"] = rss_mb(server.process.pid)
    return result


# ---- databases ------------------------------------------------------------------------


def prepare_database(url: str, size: int | None) -> str:
    """Schema, a corpus of ``size`` replies (None: the real corpus) and an agent key."""
    from sqlmodel import Session

    from app import auth, store
    from bench.corpus_gen import perturbed_corpus
    from classifiers.corpus import load_replies

    database = store.connect(url)
    store.upgrade(database)
    with Session(database) as session:
        store.seed_corpus(session, replies=None if size is None else perturbed_corpus(load_replies(), size))
    key, _ = auth.create_key(database, name="bench", role=auth.Role.ADMIN)
    database.dispose()
    return key


# ---- the cases ------------------------------------------------------------------------


def cases(buyers: list[str], drafts: list[str], duration: float) -> list[dict]:
    suggest_frames = [buyer_frame(i, t) for i, t in enumerate(buyers)]
    lint_frames = [draft_frame(i, t) for i, t in enumerate(drafts)]
    suggest_bodies = [json.dumps({"text": t, "conversation_id": f"bench-{i % 997}"}, ensure_ascii=False)
                      for i, t in enumerate(buyers)]  # fmt: skip
    lint_bodies = [json.dumps({"text": t}, ensure_ascii=False) for t in drafts]
    out = []
    for concurrency in (1, 10, 100):
        out.append({"case": "ws_suggest", "mode": "ws", "concurrency": concurrency, "frames": suggest_frames})
        out.append({"case": "ws_lint", "mode": "ws", "concurrency": concurrency, "frames": lint_frames})
    # The service's floor: a frame through all of its own handling (parse, validate, rate
    # limit, metrics, answer) with no language work. What it loses to the echo is not the
    # pipeline's.
    out.append(
        {"case": "ws_ping", "mode": "ws", "concurrency": 10, "frames": [ping_frame(i) for i in range(100)]}
    )
    for name, frames in (("ws_suggest_pipelined", suggest_frames), ("ws_lint_pipelined", lint_frames)):
        out.append({"case": name, "mode": "ws", "concurrency": 10, "depth": 16, "frames": frames})
    for concurrency in (1, 10, 100):
        out.append({"case": "http_suggest", "mode": "http", "path": "/v1/suggest", "concurrency": concurrency,
                    "frames": suggest_bodies})  # fmt: skip
        out.append({"case": "http_lint", "mode": "http", "path": "/v1/lint", "concurrency": concurrency,
                    "frames": lint_bodies})  # fmt: skip
    for case in out:
        case["duration"] = duration
    return out


def open_loop_case(buyers: list[str], drafts: list[str], duration: float) -> dict:
    """100 connections, 1,000 frames/s in all, one buyer message to four drafts."""
    frames = []
    for i in range(2000):
        frames.append(
            buyer_frame(i, buyers[i % len(buyers)]) if i % 5 == 0 else draft_frame(i, drafts[i % len(drafts)])
        )
    return {"case": "ws_open_loop_1000", "mode": "ws_open", "concurrency": 100, "rate": 1000,
            "duration": max(duration * 2, 8.0), "frames": frames}  # fmt: skip


COLUMNS = ("msg/s", "vs echo", "p50 ms", "p95 ms", "p99 ms", "cpu µs/msg", "errors")


def _row(out: TextIO, label: str, result: dict, echo: dict | None) -> None:
    ratio = f"{result['throughput'] / echo['throughput']:.1%}" if echo and echo["throughput"] else "-"
    cells = (
        f"{result['throughput']:.0f}",
        ratio,
        *(f"{result[key]:.2f}" for key in ("p50_ms", "p95_ms", "p99_ms")),
        f"{result['cpu_us_per_msg']:.0f}",
        str(result["errors"]),
    )
    out.write(f"{label:<32}" + "".join(f"{cell:>11}" for cell in cells) + "\n")
    out.flush()


def _header(out: TextIO, title: str, ratio_column: str = "vs echo") -> None:
    columns = [ratio_column if column == "vs echo" else column for column in COLUMNS]
    out.write(f"\n{title}\n{'case':<32}" + "".join(f"{column:>11}" for column in columns) + "\n")


def run_benchmark(args, out: TextIO) -> int:
    buyers, drafts = buyer_texts(), draft_texts()
    work = Path(tempfile.mkdtemp(prefix="huashu-bench-"))
    cache = str(work / "cache")
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "duration_s": args.duration,
        "messages": {"buyer": len(buyers), "drafts": len(drafts)},
    }
    summary: dict = {}
    if not args.only_scale_out:
        single_worker(args, out, buyers, drafts, work, cache, report, summary)
    if args.postgres_url:
        scale_out(args, out, buyers, drafts, cache, report, summary)
    else:
        report["scale_out"] = "not run: pass --postgres-url"
    report["summary"] = summary
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    out.write(f"\nfull report: {args.out}\n")
    out.write(json.dumps(summary) + "\n")
    return 0


def single_worker(args, out, buyers, drafts, work, cache, report, summary) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    base_size = sizes[0] if sizes else 1000
    open_loop = open_loop_case(buyers, drafts, args.duration)
    with Server({"CACHE_DIR": cache}, app="bench.echo_app:app") as echo_server:
        report["echo_cold_start_s"] = echo_server.cold_start_s
        echo = {}
        _header(out, f"echo (bare FastAPI on the same stack), cold start {echo_server.cold_start_s} s")
        for case in [*cases(buyers, drafts, args.duration), open_loop]:
            label = f"{case['case']} c={case['concurrency']}"
            echo[label] = measure(
                echo_server, {**case, "url": _url(echo_server, case, ECHO_TOKEN), "token": ECHO_TOKEN}
            )
            _row(out, label, echo[label], None)
    report["echo"] = echo

    # The service on the smallest corpus: every case, next to the echo's figure.
    url = f"sqlite:///{work / f'corpus-{base_size}.db'}"
    token = prepare_database(url, base_size)
    env = {"DATABASE_URL": url, "CACHE_DIR": cache, "RATE_LIMIT_PER_MINUTE": "100000000"}
    first = Server(env)  # analyses the corpus and stores the analyses
    first.stop()
    service = {}
    with Server(env) as server:
        _header(out, f"service, {base_size} replies: first start {first.cold_start_s} s, "
                     f"cold start {server.cold_start_s} s, RSS {rss_mb(server.process.pid)} MB")  # fmt: skip
        for case in [*cases(buyers, drafts, args.duration), open_loop]:
            label = f"{case['case']} c={case['concurrency']}"
            service[label] = measure(server, {**case, "url": _url(server, case, token), "token": token})
            _row(out, label, service[label], echo[label])
    report["service"] = {"replies": base_size, "first_start_s": first.cold_start_s,
                         "cold_start_s": server.cold_start_s, "cases": service}  # fmt: skip

    # How cost grows with the corpus: suggestions and lint at 10 connections per size.
    growth = {}
    _header(out, "service by corpus size (10 connections)")
    for size in sizes:
        url = f"sqlite:///{work / f'corpus-{size}.db'}"
        token = token if size == base_size else prepare_database(url, size)
        env = {**env, "DATABASE_URL": url}
        first = Server(env)
        first.stop()
        with Server(env) as server:
            row = {"first_start_s": first.cold_start_s, "cold_start_s": server.cold_start_s}
            for case in cases(buyers, drafts, args.duration):
                if case["concurrency"] == 10 and case["case"] in ("ws_suggest", "ws_lint"):
                    row[case["case"]] = measure(
                        server, {**case, "url": _url(server, case, token), "token": token}
                    )
                    _row(
                        out, f"{case['case']} {size} replies", row[case["case"]], echo[f"{case['case']} c=10"]
                    )
            row["rss_mb"] = rss_mb(server.process.pid)
            row["propagation_s"] = propagation(server, token)
        starts = f"first start {row['first_start_s']} s, cold start {row['cold_start_s']} s"
        change = f"a new reply served after {row['propagation_s']} s"
        out.write(f"  {size} replies: {starts}, RSS {row['rss_mb']} MB, {change}\n")
        growth[size] = row
    report["by_corpus_size"] = growth

    smallest, largest = growth[min(growth)], growth[max(growth)]
    summary.update(
        {
            "ws_suggest_vs_echo": _ratio(service, echo, "ws_suggest c=10"),
            "ws_lint_vs_echo": _ratio(service, echo, "ws_lint c=10"),
            "ws_ping_vs_echo": _ratio(service, echo, "ws_ping c=10"),
            "http_suggest_vs_echo": _ratio(service, echo, "http_suggest c=10"),
            "http_lint_vs_echo": _ratio(service, echo, "http_lint c=10"),
            "p99_ms_open_loop_1000": service["ws_open_loop_1000 c=100"]["p99_ms"],
            "echo_p99_ms_open_loop_1000": echo["ws_open_loop_1000 c=100"]["p99_ms"],
            "cold_start_s": report["service"]["cold_start_s"],
            "cold_start_s_largest": largest["cold_start_s"],
            "rss_mb": largest["rss_mb"],
            "largest_corpus": max(growth),
            "propagation_s_largest": largest["propagation_s"],
            # Server CPU per suggestion, largest corpus over smallest: independent of the client.
            "suggest_growth_1k_to_100k": round(
                largest["ws_suggest"]["cpu_us_per_msg"] / smallest["ws_suggest"]["cpu_us_per_msg"], 2
            ),
            "suggest_p50_growth": round(
                largest["ws_suggest"]["p50_ms"] / smallest["ws_suggest"]["p50_ms"], 2
            ),
        }
    )


def scale_out(args, out, buyers, drafts, cache, report, summary) -> None:
    """N workers behind uvicorn's shared socket against one PostgreSQL: throughput of a
    shop's mix (one buyer message to four drafts), closed loop, 100 connections, and how
    long a corpus change takes to reach every worker."""
    mix = [buyer_frame(i, buyers[i % len(buyers)]) if i % 5 == 0 else draft_frame(i, drafts[i % len(drafts)])
           for i in range(2000)]  # fmt: skip
    from app import store

    rows = {}
    _header(out, "scale-out: N workers, one PostgreSQL, mixed frames, 100 connections", "vs N=1")
    for workers in (int(n) for n in args.workers.split(",")):
        with store.temporary_database(args.postgres_url, "huashu_bench") as url:
            token = prepare_database(url, None)
            env = {"DATABASE_URL": url, "CACHE_DIR": cache, "RATE_LIMIT_PER_MINUTE": "100000000"}
            with Server(env, workers=workers) as server:
                time.sleep(1.0 + 0.5 * workers)  # the other workers finish starting
                case = {
                    "case": "ws_mix",
                    "mode": "ws",
                    "concurrency": 100,
                    "duration": args.duration,
                    "frames": mix,
                }
                # Enough client processes that the clients are not the limit, leaving the
                # workers (and PostgreSQL) their cores: two per worker where cores allow.
                processes = max(1, min(2 * workers, ((os.cpu_count() or 2) - workers - 1) // 2))
                result = measure(server, {**case, "url": _url(server, case, token), "token": token},
                                 processes=processes)  # fmt: skip
                result["propagation_s"] = propagation(server, token)
                result["client_processes"] = processes
                rows[workers] = result
                _row(out, f"{workers} worker(s)", result, rows.get(1))
                out.write(f"  corpus change seen by every worker after {result['propagation_s']} s\n")
    report["scale_out"] = rows
    summary["scale_out_throughput"] = {n: r["throughput"] for n, r in rows.items()}
    summary["corpus_change_propagation_s"] = max(r["propagation_s"] for r in rows.values())


def propagation(server: Server, token: str) -> float:
    """Seconds from an editor's change on one worker until every worker serves it.

    Each /readyz answer names its worker's pid, corpus version and when that worker began
    serving it; many fresh connections reach every worker of uvicorn's shared socket. The
    figure is the last worker's own swap time, so it does not depend on how soon a probe
    happens to land on that worker."""
    headers = {"Authorization": f"Bearer {token}"}
    reply = {
        "id": f"bench-{uuid.uuid4().hex[:8]}",
        "text": "亲，收到啦，我马上帮您处理～",
        "intents": ["other"],
        "triggers": ["帮我处理一下"],
    }
    target = httpx.get(f"{server.base}/readyz", timeout=5).json()["corpus_version"] + 1
    started = time.time()
    response = httpx.post(f"{server.base}/v1/replies", json=reply, headers=headers, timeout=30)
    response.raise_for_status()
    loaded: dict[int, float] = {}
    while time.time() - started < 60:
        with httpx.Client(base_url=server.base, timeout=5) as client:  # a new connection: any worker
            ready = client.get("/readyz").json()
        if ready["corpus_version"] >= target:
            loaded[ready["worker"]] = ready["corpus_loaded_at"]
        if len(loaded) >= server.workers:
            return round(max(loaded.values()) - started, 3)
    raise RuntimeError(f"a corpus change reached {len(loaded)} of {server.workers} workers in 60 s")


def _url(server: Server, case: dict, token: str) -> str:
    if case["mode"] == "http":
        return server.base
    return f"ws://127.0.0.1:{server.port}/v1/ws?token={token}"


def _ratio(service: dict, echo: dict, label: str) -> float:
    return round(service[label]["throughput"] / echo[label]["throughput"], 3)
