"""A client's check of the stand-in's answers: complete, in order, and the right ones.

Give it the request body you sent and what came back; it returns the problems found (an empty
list means the answer is the one correct answer). Standard library only, like the server, so a
load generator anywhere can use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from . import openai, tokens

DONE = "[DONE]"
OBJECTS = {"completion": "text_completion", "chat": "chat.completion"}
CHUNK_OBJECTS = {"completion": "text_completion", "chat": "chat.completion.chunk"}


def expected_answer(
    kind: openai.Kind,
    request: Mapping[str, object],
    *,
    model: str,
    default_max_tokens: int = 16,
) -> tokens.Answer:
    """The answer the server must give to ``request``."""
    gen = openai.parse(
        kind,
        json.dumps(dict(request)).encode(),
        model=model,
        default_max_tokens=default_max_tokens,
        max_model_len=1 << 30,
    )
    return gen.answer


def sse_data(lines: Iterable[str]) -> list[str]:
    """The ``data:`` payloads of a server-sent event stream, in order."""
    return [line[5:].strip() for line in lines if line.startswith("data:")]


def _text_of(kind: openai.Kind, choice: Mapping[str, object], *, chunk: bool) -> str:
    if kind == "completion":
        text = choice.get("text")
    else:
        part = choice.get("delta" if chunk else "message")
        text = part.get("content", "") if isinstance(part, dict) else None
    return text if isinstance(text, str) else ""


def problems_in_answer(
    kind: openai.Kind,
    request: Mapping[str, object],
    response: Mapping[str, object],
    *,
    model: str,
    default_max_tokens: int = 16,
) -> list[str]:
    """What is wrong with a non-streaming ``response`` to ``request``."""
    want = expected_answer(kind, request, model=model, default_max_tokens=default_max_tokens)
    problems: list[str] = []
    if response.get("object") != OBJECTS[kind]:
        problems.append(f"object is {response.get('object')!r}, not {OBJECTS[kind]!r}")
    choices = response.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return [*problems, f"expected one choice, got {choices!r}"]
    text = _text_of(kind, choices[0], chunk=False)
    if text != want.text:
        problems.append(f"text differs: got {text[:60]!r}..., want {want.text[:60]!r}...")
    if choices[0].get("finish_reason") != want.finish_reason:
        problems.append(
            f"finish_reason {choices[0].get('finish_reason')!r}, not {want.finish_reason!r}"
        )
    usage = response.get("usage")
    got = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if got != len(want.tokens):
        problems.append(f"usage.completion_tokens is {got!r}, not {len(want.tokens)}")
    return problems


def problems_in_stream(
    kind: openai.Kind,
    request: Mapping[str, object],
    events: Sequence[str],
    *,
    model: str,
    default_max_tokens: int = 16,
) -> list[str]:
    """What is wrong with a stream's ``data:`` payloads (see :func:`sse_data`)."""
    want = expected_answer(kind, request, model=model, default_max_tokens=default_max_tokens)
    if not events or events[-1] != DONE:
        return [f"the stream did not end with data: {DONE} ({len(events)} events)"]
    problems: list[str] = []
    text, finish, ids = [], None, set()
    for raw in events[:-1]:
        try:
            chunk = json.loads(raw)
        except json.JSONDecodeError:
            return [f"an event is not JSON: {raw[:60]!r}"]
        ids.add(chunk.get("id"))
        if chunk.get("object") != CHUNK_OBJECTS[kind]:
            problems.append(f"a chunk's object is {chunk.get('object')!r}")
        for choice in chunk.get("choices", []):
            if finish is not None:
                problems.append("a choice came after the finish_reason")
            text.append(_text_of(kind, choice, chunk=True))
            finish = choice.get("finish_reason") or finish
    if len(ids) != 1:
        problems.append(f"chunks carry {len(ids)} ids, not one")
    if "".join(text) != want.text:
        got = "".join(text)
        problems.append(f"text differs: got {len(got)} chars, want {len(want.text)}")
    if finish != want.finish_reason:
        problems.append(f"finish_reason {finish!r}, not {want.finish_reason!r}")
    return problems
