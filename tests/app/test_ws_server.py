"""The real server (uvicorn in a subprocess) driven by the `websockets` client library."""

import asyncio
import json
import os

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.service_bench import Server
from tests.helpers import create_key


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_DIR": str(tmp_path_factory.mktemp("server-cache")),
        "MAX_FRAME_BYTES": "4096",
        "SHOP_PROFILES": "shop-jd=jd",
    }
    key = create_key(env, "agent", "ws-test")
    with Server(env) as process:  # the benchmark's launcher: `huashu serve`, waited for until /readyz
        base = f"127.0.0.1:{process.port}"
        yield {"url": f"ws://{base}/v1/ws?token={key}", "base": base, "key": key}


def run(coroutine):
    return asyncio.run(coroutine)


async def _exchange(ws, frame) -> dict:
    await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame, ensure_ascii=False))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


def test_key_printed_alone_on_last_line(server):
    assert server["key"].startswith("hs_") and " " not in server["key"]


def test_suggestions_and_lint(server):
    async def scenario():
        async with connect(server["url"]) as ws:
            answer = await _exchange(
                ws, {"type": "buyer_message", "conversation_id": "c1", "text": "便宜点能包邮吗", "id": "m1"}
            )
            assert answer["type"] == "suggestions" and answer["in_reply_to"] == "m1"
            assert answer["conversation_id"] == "c1" and answer["intent"] == "bargaining"
            assert {"bargaining", "logistics"} <= {i["intent"] for i in answer["intents"]}
            assert answer["suggestions"] and {"reply_id", "text", "score", "missing_slots"} <= set(
                answer["suggestions"][0]
            )
            lint = await _exchange(ws, {"type": "draft", "text": "應該是吧", "id": 7})
            assert lint["type"] == "lint" and lint["in_reply_to"] == 7 and lint["ok"] is False
            assert lint["flags"][0]["category"] == "uncertain" and lint["flags"][0]["end"] == 4
            assert await _exchange(ws, {"type": "ping"}) == {"type": "pong"}
            reply_id = answer["suggestions"][0]["reply_id"]
            ack = await _exchange(ws, {"type": "feedback", "reply_id": reply_id, "action": "used", "id": "f"})
            assert ack == {"type": "ack", "in_reply_to": "f"}

    run(scenario())


def test_lint_profile_and_nearest_reply(server):
    async def scenario():
        async with connect(server["url"]) as ws:
            lint = await _exchange(ws, {"type": "draft", "text": "估计快递太忙了吧", "id": "d1"})
            assert lint["ok"] is False and lint["nearest_reply"]["intent"] == "logistics"
            assert set(lint["nearest_reply"]) == {"reply_id", "text", "intent"}
            clean = await _exchange(ws, {"type": "draft", "text": "好的亲，马上为您安排"})
            assert clean["nearest_reply"] is None and clean["flags"] == []
            draft = {"type": "draft", "text": "感谢您对京东的支持"}
            assert (await _exchange(ws, {**draft, "profile": "taobao"}))["ok"] is False
            assert (await _exchange(ws, {**draft, "shop_id": "shop-jd"}))["flags"] == []
            bad = await _exchange(ws, {**draft, "profile": "amazon"})
            assert bad["type"] == "error" and bad["code"] == "invalid_frame"

    run(scenario())


def test_follow_up_understood_in_context(server):
    async def say(ws, conversation_id: str, text: str) -> str:
        frame = {"type": "buyer_message", "conversation_id": conversation_id, "text": text}
        return (await _exchange(ws, frame))["intent"]

    async def scenario():
        async with connect(server["url"]) as ws:
            # "那这个呢" and "要怎么撤回呢" alone say nothing of what they ask about: the
            # conversation decides (the same words, alone, are "other").
            assert await say(ws, "ctx-alone", "那这个呢") == "other"
            await say(ws, "ctx", "能便宜点吗")
            assert await say(ws, "ctx", "那这个呢") == "bargaining"
            assert await say(ws, "ctx-alone", "要怎么撤回呢") == "other"
            await say(ws, "ctx-refund", "我要退款")
            assert await say(ws, "ctx-refund", "要怎么撤回呢") == "refund"

    run(scenario())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        (b"\x00\x01binary", "binary_not_supported"),
        ("[1, 2]", "invalid_frame"),
        ({"type": "shout", "id": "u1"}, "unknown_type"),
        ({"text": "no type"}, "unknown_type"),
        ({"type": "buyer_message", "text": "包邮吗"}, "invalid_frame"),
        ({"type": "draft"}, "invalid_frame"),
        ({"type": "buyer_message", "conversation_id": "c", "text": "\u200b\u3000"}, "empty_text"),
        ({"type": "draft", "text": ""}, "empty_text"),
        ({"type": "draft", "text": "好" * 3000}, "frame_too_large"),
        ({"type": "feedback", "reply_id": "nope", "action": "used"}, "unknown_reply"),
    ],
)
def test_bad_frames_get_errors_and_the_connection_stays_open(server, frame, code):
    async def scenario():
        async with connect(server["url"]) as ws:
            error = await _exchange(ws, frame)
            assert error["type"] == "error" and error["code"] == code and error["message"]
            if isinstance(frame, dict) and "id" in frame:
                assert error["in_reply_to"] == frame["id"]
            assert await _exchange(ws, {"type": "ping"}) == {"type": "pong"}

    run(scenario())


def test_bad_token_closes_with_4401(server):
    async def scenario():
        url = server["url"].split("?")[0]
        for query in ("?token=hs_wrong", ""):
            async with connect(url + query) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd.code == 4401

    run(scenario())


def test_many_concurrent_connections(server):
    async def one(i: int) -> str:
        async with connect(server["url"]) as ws:
            answer = await _exchange(
                ws, {"type": "buyer_message", "conversation_id": f"k{i}", "text": "什么时候发货"}
            )
            return answer["intent"]

    async def scenario():
        return await asyncio.gather(*(one(i) for i in range(20)))

    assert run(scenario()) == ["logistics"] * 20


def test_benchmark_load_client_counts_answers_and_errors(server):
    """The benchmark's clients (bench/load.py) against the real server: answers are counted,
    and error answers are counted as errors, on the socket and on keep-alive HTTP."""
    from bench.load import run as load
    from bench.service_bench import buyer_frame, draft_frame, ping_frame

    frames = [buyer_frame(0, "能便宜点吗"), draft_frame(1, "可能吧"), ping_frame(2)]
    spec = {"concurrency": 2, "duration": 0.3, "warmup": 0.05}
    socket = run(load({**spec, "mode": "ws", "url": server["url"], "frames": frames}))
    assert socket["answered"] > 0 and socket["errors"] == 0
    bad_frames = run(load({**spec, "mode": "ws", "url": server["url"], "frames": ['{"type": "nope"}']}))
    assert bad_frames["answered"] > 0 and bad_frames["errors"] == bad_frames["answered"]
    http = {
        **spec,
        "mode": "http",
        "url": f"http://{server['base']}",
        "path": "/v1/lint",
        "frames": ['{"text": "可能吧"}'],
    }
    good = run(load({**http, "token": server["key"]}))
    assert good["answered"] > 0 and good["errors"] == 0
    refused = run(load({**http, "token": "hs_wrong"}))
    assert refused["answered"] > 0 and refused["errors"] == refused["answered"]
