"""A fake OpenAI-compatible model server for tests: a real HTTP server on loopback.

It speaks the shapes of FACTS.md section 9 (the OpenAI spec's examples): ``POST
/v1/chat/completions`` as one JSON ``chat.completion`` or as SSE ``chat.completion.chunk`` events
ending with ``data: [DONE]``, ``GET /v1/models``, and errors shaped ``{"error": {"message", "type",
"param", "code"}}``. Tests script what it answers and read what it received::

    with FakeOpenAIServer(api_key="sk-test") as fake:
        fake.script("Hi Sam, yes, it is still available.", Reply.error("rate_limited"))
        ...  # point CASHOUT_AI_BASE_URL at fake.base_url
        assert "sk-test" not in fake.prompt_text()

An empty script answers :attr:`FakeOpenAIServer.default_reply`. ``python -m
cashout_server.testing.fake_openai --port 11434`` runs one standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from cashout_server.testing.loopback import LoopbackServer

__all__ = ["FakeOpenAIServer", "ReceivedRequest", "Reply", "ReplyKind"]

ReplyKind = Literal[
    "text",
    "unauthorized",
    "rate_limited",
    "server_error",
    "hang",
    "malformed",
    "empty",
    "refusal",
    "stream_unsupported",
]

_REFUSAL = "I'm sorry, but I can't help with that request."


@dataclass(frozen=True)
class Reply:
    """One scripted answer to a chat completion request.

    ``text`` answers normally (streamed in ``chunk_size`` pieces, ``chunk_delay`` seconds apart);
    the other kinds are the failures a real endpoint produces:

    * ``unauthorized``: 401 ``invalid_api_key``; ``rate_limited``: 429 with ``retry-after`` and
      ``x-ratelimit-*`` headers; ``server_error``: 500.
    * ``hang``: answers only after the server's ``hang_seconds`` (past any sane client timeout).
    * ``malformed``: a 200 whose body (or SSE event) is not valid JSON.
    * ``empty``: a well-formed completion whose content is ``""``.
    * ``refusal``: ``content: null`` and ``refusal`` set (``delta.refusal`` when streaming).
    * ``stream_unsupported``: 400 to a streaming request; a non-streaming one gets ``text``.
    """

    kind: ReplyKind = "text"
    text: str = ""
    chunk_size: int = 12
    chunk_delay: float = 0.0

    @classmethod
    def error(cls, kind: ReplyKind) -> Reply:
        """A failure of the given kind."""
        return cls(kind=kind)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class FakeOpenAIServer(LoopbackServer):
    """The fake model server on ``127.0.0.1``, served from its own thread and event loop.

    Args:
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get 401.
        streaming: ``False`` answers every streaming request with 400 (a server without SSE).
        hang_seconds: how long a ``hang`` reply stalls (cut short when the server stops).
        default_reply: the text answered when the script is empty.
    """

    api_key: str | None = None
    streaming: bool = True
    hang_seconds: float = 30.0
    default_reply: str = "Hi, thanks for your message."
    model: str = "fake-model"
    received: list[ReceivedRequest] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    """How each SSE answer ended: ``completed`` (``[DONE]`` written) or ``cut`` (client went away)."""
    port: int = 0
    _queue: deque[Reply] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (ending in ``/v1``) to give a client."""
        return f"http://127.0.0.1:{self.port}/v1"

    # --- what tests do ---------------------------------------------------------------------

    def script(self, *replies: str | Reply) -> None:
        """Queue answers for the next chat completion requests (a string is a text reply)."""
        with self._lock:
            self._queue.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every chat completion request received, oldest first."""
        return [r.json() for r in self.received if r.path.endswith("/chat/completions")]

    def prompt_text(self) -> str:
        """Every message content of every chat request, joined (what the model was told)."""
        parts: list[str] = []
        for body in self.chat_requests():
            parts.extend(str(m.get("content", "")) for m in body.get("messages", []))
        return "\n".join(parts)

    def wait_for_streams(self, count: int, timeout: float = 5.0) -> list[str]:
        """Wait until ``count`` SSE answers have ended; returns how each ended."""
        deadline = time.monotonic() + timeout
        while len(self.streams) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.streams)

    # --- lifecycle -------------------------------------------------------------------------

    thread_name = "fake-openai"

    def before_stop(self) -> None:
        """Release answers hanging on purpose."""
        if self._stopping is not None:
            self._stopping.set()

    def build_app(self) -> web.Application:
        """The routes of this fake."""
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    # --- the endpoint ----------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.text()
        self.received.append(ReceivedRequest(request.method, request.path, dict(request.headers), body))
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._unauthorized(request.headers.get("Authorization", ""))
        response: web.StreamResponse = await handler(request)
        return response

    @staticmethod
    def _error(
        status: int,
        message: str,
        type_: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        return web.json_response(body, status=status, headers=headers)

    def _unauthorized(self, authorization: str) -> web.Response:
        given = authorization.removeprefix("Bearer ")
        # OpenAI shows a masked key; never the whole of it.
        masked = f"{given[:3]}{'*' * 8}{given[-4:]}" if len(given) > 8 else "***"
        return self._error(
            401,
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            code="invalid_api_key",
        )

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 1741569952, "owned_by": "system"}],
            }
        )

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else Reply(text=self.default_reply)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.text())
        except json.JSONDecodeError:
            return self._error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return self._error(400, "'model' and 'messages' are required.", "invalid_request_error", param="messages")
        stream = bool(body.get("stream"))
        if stream and not self.streaming:
            return self._stream_unsupported()
        reply = self._next_reply()
        if reply.kind == "stream_unsupported":
            if stream:
                with self._lock:
                    self._queue.appendleft(Reply(text=reply.text or self.default_reply))
                return self._stream_unsupported()
            reply = Reply(text=reply.text or self.default_reply)
        if reply.kind == "unauthorized":
            return self._unauthorized(request.headers.get("Authorization", ""))
        if reply.kind == "rate_limited":
            return self._error(
                429,
                "Rate limit reached for requests per min (RPM): Limit 60, Used 60, Requested 1. "
                "Please try again in 1s.",
                "requests",
                code="rate_limit_exceeded",
                headers={
                    "retry-after": "1",
                    "x-ratelimit-limit-requests": "60",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "1s",
                    "x-ratelimit-limit-tokens": "150000",
                    "x-ratelimit-remaining-tokens": "149000",
                    "x-ratelimit-reset-tokens": "6m0s",
                },
            )
        if reply.kind == "server_error":
            return self._error(
                500, "The server had an error while processing your request. Sorry about that!", "server_error"
            )
        if reply.kind == "hang":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.hang_seconds)
            reply = Reply(text=self.default_reply)
        model = str(body["model"])
        if stream:
            return await self._sse(request, reply, model, body)
        return self._completion(reply, model)

    def _stream_unsupported(self) -> web.Response:
        return self._error(
            400,
            "Streaming is not supported by this server.",
            "invalid_request_error",
            param="stream",
            code="unsupported_parameter",
        )

    def _completion(self, reply: Reply, model: str) -> web.Response:
        if reply.kind == "malformed":
            return web.Response(
                text='{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess',
                content_type="application/json",
            )
        content: str | None = "" if reply.kind == "empty" else reply.text
        refusal = None
        if reply.kind == "refusal":
            content, refusal = None, _REFUSAL
        tokens = len((content or refusal or "").split())
        return web.json_response(
            {
                "id": f"chatcmpl-fake{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 19,
                    "completion_tokens": tokens,
                    "total_tokens": 19 + tokens,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {
                        "reasoning_tokens": 0,
                        "audio_tokens": 0,
                        "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0,
                    },
                },
                "service_tier": "default",
            }
        )

    async def _sse(self, request: web.Request, reply: Reply, model: str, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        ident = f"chatcmpl-fake{next(self._ids)}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            event = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            return f"data: {json.dumps(event)}\n\n".encode()

        try:
            if reply.kind == "malformed":
                await response.write(b'data: {"id": "chatcmpl-broken", "object": "chat.completion.chunk", "cho\n\n')
                await response.write(b"data: [DONE]\n\n")
                self.streams.append("completed")
                return response
            await response.write(chunk({"role": "assistant", "content": ""}))
            if reply.kind == "refusal":
                await response.write(chunk({"refusal": _REFUSAL}))
            elif reply.kind == "text":
                text = reply.text
                for start in range(0, len(text), max(1, reply.chunk_size)):
                    if reply.chunk_delay:
                        await asyncio.sleep(reply.chunk_delay)
                    await response.write(chunk({"content": text[start : start + reply.chunk_size]}))
            await response.write(chunk({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
                event = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
                await response.write(f"data: {json.dumps({**event, 'choices': [], 'usage': usage})}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            # The client stopped reading (e.g. it cut an over-long reply short).
            self.streams.append("cut")
            return response
        self.streams.append("completed")
        return response


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake model server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--no-streaming", action="store_true")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(api_key=args.api_key, streaming=not args.no_streaming)
    server.start(args.port)
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
