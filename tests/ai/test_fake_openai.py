"""The fake model server speaks the shapes of FACTS.md section 9, checked over plain HTTP."""

from __future__ import annotations

import json

import httpx

from cashout_server.testing.fake_openai import FakeOpenAIServer, Reply

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Hello!"}]}


async def test_completion_chunks_models_and_errors_have_the_openai_shapes(fake: FakeOpenAIServer, api_key: str) -> None:
    fake.script("Hello!", Reply(text="Hello there", chunk_size=5), Reply.error("rate_limited"))
    async with httpx.AsyncClient(base_url=fake.base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        completion = (await http.post("/chat/completions", json=CHAT)).json()
        stream = await http.post("/chat/completions", json={**CHAT, "stream": True})
        limited = await http.post("/chat/completions", json=CHAT)
        models = (await http.get("/models")).json()
        unauthorized = await http.post("/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-nope-1234"})

    assert {"id", "object", "created", "model", "choices", "usage"} <= completion.keys()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello!",
        "refusal": None,
        "annotations": [],
    }
    assert completion["choices"][0]["finish_reason"] == "stop"

    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in stream.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello there"
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert set(limited.json()["error"]) == {"message", "type", "param", "code"}

    assert unauthorized.status_code == 401
    error = unauthorized.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "invalid_api_key", None)
    assert "sk-nope-1234" not in error["message"]

    assert models["object"] == "list" and models["data"][0]["object"] == "model"
