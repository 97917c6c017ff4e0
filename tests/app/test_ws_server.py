"""The real server (uvicorn in a subprocess) driven by the `websockets` client library."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.service_bench import Server
from tests.helpers import create_key, server_env


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    env = server_env(
        database_url, tmp_path_factory, "server", MAX_FRAME_BYTES="4096", SHOP_PROFILES="shop-jd=jd"
    )
    key = create_key(env, "agent", "ws-test")
    with Server(env) as process:  # the benchmark's launcher: `huashu serve`, waited for until /readyz
        base = f"127.0.0.1:{process.port}"
        yield {"url": f"ws://{base}/v1/ws?token={key}", "base": base, "key": key}


@pytest.fixture(scope="module")
def memory_server(database_url, tmp_path_factory):
    """A server under the session-memory context rule (INTENT_CONTEXT=memory)."""
    env = server_env(database_url, tmp_path_factory, "memory", INTENT_CONTEXT="memory")
    key = create_key(env, "agent", "ws-memory")
    with Server(env) as process:
        yield {"url": f"ws://127.0.0.1:{process.port}/v1/ws?token={key}"}


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


# A refund, a message with no intent, then a follow-up two messages after the refund.
_REFUND_THEN_FOLLOW_UP = ["我要退款", "好的", "要怎么撤回呢"]


def _in_process(context: str, texts: list[str]) -> list[str]:
    """The intents the evaluator (``huashu eval chat``) gives the same session."""
    from classifiers.engine import Engine

    engine, remembered, intents = Engine.load(replies=[], rules=[], context=context), None, []
    for text in texts:
        result = engine.classify(text, previous=remembered)
        kept = engine.remembered(result)
        remembered = remembered if kept is None else kept
        intents.append(str(result.intent))
    return intents


async def _session(url: str, conversation_id: str, texts: list[str]) -> list[str]:
    async with connect(url) as ws:
        frames = [{"type": "buyer_message", "conversation_id": conversation_id, "text": t} for t in texts]
        return [(await _exchange(ws, frame))["intent"] for frame in frames]


def test_session_memory_keeps_a_refund_two_messages_on(memory_server):
    """Under the memory rule the follow-up two messages after a refund message stays refund,
    as the evaluator says; and a conversation's memory is its own."""
    intents = run(_session(memory_server["url"], "mem-refund", _REFUND_THEN_FOLLOW_UP))
    assert intents == _in_process("memory", _REFUND_THEN_FOLLOW_UP) and intents[-1] == "refund"
    assert run(_session(memory_server["url"], "mem-other", _REFUND_THEN_FOLLOW_UP[1:]))[-1] == "other"


def test_default_rule_matches_the_evaluator(server):
    from classifiers.intent import DEFAULT_CONTEXT

    intents = run(_session(server["url"], "default-refund", _REFUND_THEN_FOLLOW_UP))
    assert intents == _in_process(DEFAULT_CONTEXT, _REFUND_THEN_FOLLOW_UP)


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
