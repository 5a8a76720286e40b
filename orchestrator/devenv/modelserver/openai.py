"""The OpenAI wire format: requests validated into a :class:`Generation`, answers and chunks built.

Taken: ``model`` (must be the served one, as vLLM checks), ``prompt`` (a string, or a list of one
string) or ``messages`` (string content or text parts), ``max_tokens`` (chat also
``max_completion_tokens``), ``stream``, ``stream_options.include_usage``, ``ignore_eos`` (vLLM),
``n`` (only 1). Other fields (temperature, top_p, stop, ...) are accepted and have no effect: the
answers are deterministic by design.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from . import tokens

Kind = Literal["completion", "chat"]


class InvalidRequest(Exception):
    """A request the server refuses, with the HTTP status and OpenAI error type to answer."""

    def __init__(self, status: int, message: str, *, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


@dataclass(frozen=True)
class Generation:
    """One validated request: what to generate and how to answer."""

    kind: Kind
    request_id: str
    created: int
    model: str
    answer: tokens.Answer
    prompt_tokens: int
    stream: bool
    include_usage: bool


def error_body(status: int, message: str, kind: str) -> dict[str, object]:
    """The OpenAI error shape."""
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def _int_field(body: Mapping[str, object], name: str, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(400, f"{name} must be a whole number of at least 1, got {value!r}")
    return value


def _chat_messages(body: Mapping[str, object]) -> list[tuple[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest(400, "messages must be a non-empty list")
    messages: list[tuple[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise InvalidRequest(400, "each message must be an object with a role")
        content = item.get("content", "")
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if isinstance(p, dict)]
            content = "".join(t for t in texts if isinstance(t, str))
        if not isinstance(content, str):
            raise InvalidRequest(400, "a message's content must be a string or text parts")
        messages.append((item["role"], content))
    return messages


def _prompt(body: Mapping[str, object]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequest(400, "prompt must be a string (or a list of one string)")
    return prompt


def parse(
    kind: Kind, raw: bytes, *, model: str, default_max_tokens: int, max_model_len: int
) -> Generation:
    """Validate a request body; raises :class:`InvalidRequest` with the answer to give."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest(400, "the body must be a JSON object")
    asked = body.get("model", model)
    if asked != model:
        raise InvalidRequest(404, f"The model `{asked}` does not exist.", kind="NotFoundError")
    if _int_field(body, "n", 1) != 1:
        raise InvalidRequest(400, "n must be 1: this server gives one choice per request")
    if kind == "chat":
        messages = _chat_messages(body)
        key = tokens.chat_key(messages)
        prompt_tokens = tokens.count_prompt_tokens([text for _, text in messages])
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        max_tokens = _int_field({"max_tokens": limit}, "max_tokens", default_max_tokens)
    else:
        prompt = _prompt(body)
        key = tokens.completion_key(prompt)
        prompt_tokens = tokens.count_prompt_tokens([prompt])
        max_tokens = _int_field(body, "max_tokens", default_max_tokens)
    if prompt_tokens + max_tokens > max_model_len:
        raise InvalidRequest(
            400,
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the prompt, "
            f"{max_tokens} in the completion).",
        )
    options = body.get("stream_options")
    ignore_eos = body.get("ignore_eos", False) is True
    prefix = "chatcmpl" if kind == "chat" else "cmpl"
    return Generation(
        kind=kind,
        request_id=f"{prefix}-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        answer=tokens.expected(model, key, max_tokens=max_tokens, ignore_eos=ignore_eos),
        prompt_tokens=prompt_tokens,
        stream=body.get("stream", False) is True,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
    )


def usage(gen: Generation, completion_tokens: int) -> dict[str, int]:
    """The ``usage`` object."""
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": gen.prompt_tokens + completion_tokens,
    }


def _envelope(gen: Generation, *, chunk: bool) -> dict[str, object]:
    if gen.kind == "chat":
        obj = "chat.completion.chunk" if chunk else "chat.completion"
    else:
        obj = "text_completion"
    return {"id": gen.request_id, "object": obj, "created": gen.created, "model": gen.model}


def full_answer(gen: Generation) -> dict[str, object]:
    """The non-streaming response."""
    text, finish = gen.answer.text, gen.answer.finish_reason
    if gen.kind == "chat":
        message = {"role": "assistant", "content": text}
        choice: dict[str, object] = {"index": 0, "message": message, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    choice["logprobs"] = None
    body = _envelope(gen, chunk=False)
    body["choices"] = [choice]
    body["usage"] = usage(gen, len(gen.answer.tokens))
    return body


def chunk(gen: Generation, *, text: str | None, finish_reason: str | None) -> dict[str, object]:
    """One streamed chunk. For chat, ``text=None`` on the first chunk sends the role."""
    if gen.kind == "chat":
        delta: dict[str, str] = {}
        if text is None and finish_reason is None:
            delta = {"role": "assistant", "content": ""}
        elif text is not None:
            delta = {"content": text}
        choice: dict[str, object] = {"index": 0, "delta": delta}
    else:
        choice = {"index": 0, "text": text or ""}
    choice["logprobs"] = None
    choice["finish_reason"] = finish_reason
    body = _envelope(gen, chunk=True)
    body["choices"] = [choice]
    return body


def usage_chunk(gen: Generation, completion_tokens: int) -> dict[str, object]:
    """The last chunk when ``stream_options.include_usage`` is set: no choices, the usage."""
    body = _envelope(gen, chunk=True)
    body["choices"] = []
    body["usage"] = usage(gen, completion_tokens)
    return body
