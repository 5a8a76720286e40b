"""The model server's counters and gauges, rendered as Prometheus text (format 0.0.4).

vLLM's names where vLLM has one (``vllm:num_requests_running``, ``vllm:num_requests_waiting``,
``vllm:request_success_total``, ``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``),
so dashboards and gridshift's drain check read the stand-in as they would read vLLM; the
stand-in's own under ``modelserver_``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Mutable figures of one server process (one asyncio loop: no locks needed)."""

    model: str
    load_seconds: float
    warm: bool
    loaded: bool = False
    draining: bool = False
    running: int = 0
    waiting: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    aborted: int = 0
    finished: Counter[str] = field(default_factory=Counter)
    responses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def render(self) -> str:
        """The Prometheus exposition of every figure."""
        model = _label_value(self.model)
        out: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{{{labels}}} {_number(value)}" for labels, value in samples)

        base = f'model_name="{model}"'
        metric(
            "vllm:num_requests_running",
            "gauge",
            "Requests generating tokens now.",
            [(base, self.running)],
        )
        metric(
            "vllm:num_requests_waiting",
            "gauge",
            "Requests waiting for a generation slot (beyond --max-num-seqs).",
            [(base, self.waiting)],
        )
        reasons = sorted({"stop", "length", *self.finished})
        metric(
            "vllm:request_success_total",
            "counter",
            "Requests that generated their whole answer, by finish reason.",
            [(f'finished_reason="{r}",{base}', self.finished[r]) for r in reasons],
        )
        metric(
            "vllm:prompt_tokens_total",
            "counter",
            "Prompt tokens of the requests taken.",
            [(base, self.prompt_tokens)],
        )
        metric(
            "vllm:generation_tokens_total",
            "counter",
            "Tokens generated.",
            [(base, self.generation_tokens)],
        )
        metric(
            "modelserver_weights_loaded",
            "gauge",
            "1 once the weights are loaded and the server answers completions.",
            [(base, int(self.loaded))],
        )
        metric(
            "modelserver_draining",
            "gauge",
            "1 after SIGTERM: no new requests are taken.",
            [(base, int(self.draining))],
        )
        metric(
            "modelserver_load_seconds",
            "gauge",
            "Time the weights take to load, from process start.",
            [(f'warm="{str(self.warm).lower()}",{base}', self.load_seconds)],
        )
        metric(
            "modelserver_requests_aborted_total",
            "counter",
            "Generations cut short: the client went away, or the shutdown timeout passed.",
            [(base, self.aborted)],
        )
        metric(
            "modelserver_http_responses_total",
            "counter",
            "HTTP responses, by endpoint and status code.",
            [
                (f'code="{code}",endpoint="{_label_value(path)}"', count)
                for (path, code), count in sorted(self.responses.items())
            ],
        )
        return "\n".join(out) + "\n"


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
