"""Deterministic, self-checking answers: what the stand-in "generates", and how a client checks it.

An answer is a function of the served model's name, the prompt and the request's limits alone.
Token ``i`` is the text ``" {i}:{hhhh}"`` where ``hhhh`` are four hex digits of
``sha256(seed || i)`` and ``seed = sha256(model NUL kind NUL prompt)``. The index in each token
shows a lost, repeated or reordered token at a glance; the hash ties the answer to its prompt.

Each prompt also has a natural length between 8 and 256 tokens (from the seed): a request gets
``min(max_tokens, natural)`` tokens and ``finish_reason`` ``"stop"`` when the natural end came
first, ``"length"`` when ``max_tokens`` did. With ``ignore_eos`` (vLLM's sampling parameter) it
always gets ``max_tokens`` tokens, finishing with ``"length"``.

A client (a load generator, a test) calls :func:`expected` with what it sent and compares.
Prompt tokens are counted as whitespace-separated words (at least one): an approximation, but a
deterministic one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

NATURAL_MIN = 8
NATURAL_SPAN = 249  # natural lengths 8 .. 256


@dataclass(frozen=True)
class Answer:
    """The tokens of one answer and why it ended."""

    tokens: tuple[str, ...]
    finish_reason: str

    @property
    def text(self) -> str:
        """The whole answer, as the non-streaming response's ``text``/``content``."""
        return "".join(self.tokens)


def completion_key(prompt: str) -> str:
    """What a completion's answer depends on, besides the model."""
    return "completion\x00" + prompt


def chat_key(messages: Sequence[tuple[str, str]]) -> str:
    """What a chat completion's answer depends on: the (role, text) of each message."""
    return "chat\x00" + json.dumps([list(m) for m in messages], ensure_ascii=False)


def _seed(model: str, key: str) -> bytes:
    return hashlib.sha256(f"{model}\x00{key}".encode()).digest()


def natural_length(model: str, key: str) -> int:
    """How many tokens the "model" says before it stops on its own."""
    return NATURAL_MIN + int.from_bytes(_seed(model, key)[:2], "big") % NATURAL_SPAN


def token(seed: bytes, index: int) -> str:
    """Token ``index`` of the answer with this seed."""
    digest = hashlib.sha256(seed + index.to_bytes(4, "big")).hexdigest()
    return f" {index}:{digest[:4]}"


def expected(model: str, key: str, *, max_tokens: int, ignore_eos: bool = False) -> Answer:
    """The one correct answer to a request, keyed by :func:`completion_key` or :func:`chat_key`."""
    natural = natural_length(model, key)
    count = max_tokens if ignore_eos else min(max_tokens, natural)
    finish = "stop" if not ignore_eos and natural <= max_tokens else "length"
    seed = _seed(model, key)
    return Answer(tokens=tuple(token(seed, i) for i in range(count)), finish_reason=finish)


def count_prompt_tokens(texts: Sequence[str]) -> int:
    """Prompt tokens, counted as whitespace-separated words (at least one)."""
    return max(1, sum(len(text.split()) for text in texts))
