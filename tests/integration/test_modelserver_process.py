"""The model-server stand-in as a real process on loopback: loading, answers, streams, shutdown."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from orchestrator.devenv.modelserver import check
from tests.modelserver import MODEL, metric, modelserver, stream, wait_ready

FAST = ("--init-seconds", "0.2", "--model-size-gb", "0.1", "--tokens-per-second", "200")


def test_unavailable_while_loading_then_ready_after_the_load_time(tmp_path: Path) -> None:
    """503 with Retry-After before the weights are in; 200 from about init + size/bandwidth."""
    started = time.monotonic()
    flags = ("--init-seconds", "1.0", "--model-size-gb", "1.5", "--cold-load-gbps", "1.5")
    with modelserver(tmp_path, *flags) as server:
        early = httpx.get(server.url + "/health", timeout=2)
        assert early.status_code == 503
        assert int(early.headers["retry-after"]) >= 1
        assert early.headers["x-gridshift-cluster"] == "test-cluster"
        body = {"prompt": "too soon", "max_tokens": 2}
        refused = httpx.post(server.url + "/v1/completions", json=body, timeout=2)
        assert refused.status_code == 503
        assert "loading" in refused.json()["error"]["message"]
        assert metric(httpx.get(server.url + "/metrics").text, "modelserver_weights_loaded") == 0
        ready_at = wait_ready(server, timeout_seconds=10)
        # 1.0 s + 1.5 GB / 1.5 GB/s = 2.0 s from process start (which came after `started`)
        assert 1.9 <= ready_at - started <= 5.0
        assert metric(httpx.get(server.url + "/metrics").text, "modelserver_weights_loaded") == 1


def test_completions_are_the_expected_answers(tmp_path: Path) -> None:
    """Completions and chat completions: the deterministic text, usage, finish reason, headers."""
    with modelserver(tmp_path, *FAST, "--pod-name", "pod-a") as server:
        wait_ready(server, timeout_seconds=10)
        cases: list[tuple[check.openai.Kind, str, dict[str, object]]] = [
            ("completion", "/v1/completions", {"prompt": "the grid", "max_tokens": 5}),
            ("completion", "/v1/completions", {"prompt": "the grid", "max_tokens": 300}),
            (
                "completion",
                "/v1/completions",
                {"prompt": ["one"], "max_tokens": 40, "ignore_eos": True},
            ),
            ("chat", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
            (
                "chat",
                "/v1/chat/completions",
                {
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
                    "max_completion_tokens": 300,
                },
            ),
        ]
        reasons = set()
        for kind, path, body in cases:
            answer = httpx.post(server.url + path, json={"model": MODEL, **body}, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-gridshift-cluster"] == "test-cluster"
            assert answer.headers["x-gridshift-pod"] == "pod-a"
            assert check.problems_in_answer(kind, body, answer.json(), model=MODEL) == []
            reasons.add(answer.json()["choices"][0]["finish_reason"])
        assert reasons == {"stop", "length"}
        wrong = {"prompt": "x", "max_tokens": 5}
        other = httpx.post(server.url + "/v1/completions", json=wrong, timeout=10).json()
        tampered = {
            **other,
            "choices": [{**other["choices"][0], "text": other["choices"][0]["text"][:-1]}],
        }
        assert check.problems_in_answer("completion", wrong, tampered, model=MODEL) != []
        models = httpx.get(server.url + "/v1/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == [MODEL]


def test_bad_requests_get_clear_errors(tmp_path: Path) -> None:
    """Not JSON, an unknown model, a wrong method, an unknown path, a too-long request."""
    with modelserver(tmp_path, *FAST, "--max-model-len", "100") as server:
        wait_ready(server, timeout_seconds=10)
        post = lambda body, **kw: httpx.post(server.url + "/v1/completions", timeout=5, **kw)  # noqa: E731
        assert post(None, content=b"{not json").status_code == 400
        unknown = post(None, json={"model": "other", "prompt": "x"})
        assert unknown.status_code == 404
        assert "does not exist" in unknown.json()["error"]["message"]
        too_long = post(None, json={"prompt": "x", "max_tokens": 100})
        assert too_long.status_code == 400
        assert "maximum context length is 100" in too_long.json()["error"]["message"]
        assert post(None, json={"prompt": "x", "n": 2}).status_code == 400
        assert httpx.get(server.url + "/v1/completions", timeout=5).status_code == 405
        assert httpx.get(server.url + "/nowhere", timeout=5).status_code == 404
        # the server still answers after all of that
        assert post(None, json={"prompt": "x"}).status_code == 200


def test_streams_are_complete_and_end_with_done(tmp_path: Path) -> None:
    """Streamed completions and chats: OpenAI chunk shapes, every token, the usage, [DONE]."""
    with modelserver(tmp_path, *FAST) as server:
        wait_ready(server, timeout_seconds=10)
        body: dict[str, object] = {"prompt": "stream me", "max_tokens": 60, "ignore_eos": True}
        events = stream(server.url, "/v1/completions", body)
        assert check.problems_in_stream("completion", body, events, model=MODEL) == []
        assert len(events) == 60 + 2  # a chunk per token, the finish chunk, [DONE]
        chat: dict[str, object] = {
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 300,
            "stream_options": {"include_usage": True},
        }
        events = stream(server.url, "/v1/chat/completions", chat)
        assert check.problems_in_stream("chat", chat, events, model=MODEL) == []
        assert '"role":"assistant"' in events[0]
        assert '"usage"' in events[-2]
        assert check.problems_in_stream("chat", chat, events[:-2] + events[-1:], model=MODEL) == []
        assert check.problems_in_stream("chat", chat, events[:5], model=MODEL) != []


def test_sigterm_finishes_the_stream_refuses_new_requests_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM during a 5 s stream: the stream completes, new connections are refused, exit 0."""
    flags = ("--init-seconds", "0.2", "--model-size-gb", "0", "--tokens-per-second", "20")
    with modelserver(tmp_path, *flags) as server:
        wait_ready(server, timeout_seconds=10)
        body: dict[str, object] = {"prompt": "long", "max_tokens": 100, "ignore_eos": True}
        received: list[list[str]] = []
        reader = threading.Thread(
            target=lambda: received.append(stream(server.url, "/v1/completions", body))
        )
        started = time.monotonic()
        reader.start()
        time.sleep(1.0)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=2)
        assert server.process.poll() is None, "it exited with a stream in flight"
        reader.join(timeout=15)
        assert received, f"the stream did not finish:\n{server.log_text()}"
        assert check.problems_in_stream("completion", body, received[0], model=MODEL) == []
        assert server.process.wait(timeout=5) == 0
        assert 4.5 <= time.monotonic() - started <= 9
        assert "every request in flight finished" in server.log_text()


def test_the_shutdown_timeout_cuts_what_is_still_running(tmp_path: Path) -> None:
    """A 5 s stream and a 1 s shutdown timeout: cut after about 1 s, exit 0."""
    flags = ("--init-seconds", "0.2", "--model-size-gb", "0", "--tokens-per-second", "20")
    with modelserver(tmp_path, *flags, "--shutdown-timeout", "1") as server:
        wait_ready(server, timeout_seconds=10)
        body: dict[str, object] = {"prompt": "long", "max_tokens": 100, "ignore_eos": True}
        errors: list[Exception] = []

        def read() -> None:
            try:
                stream(server.url, "/v1/completions", body)
            except httpx.HTTPError as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.5)
        cut_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=5) == 0
        assert 0.9 <= time.monotonic() - cut_at <= 3
        reader.join(timeout=5)
        assert errors, "a stream cut by the shutdown timeout must not look complete"
        assert "cutting 1 request" in server.log_text()


def test_metrics_count_running_and_waiting_requests(tmp_path: Path) -> None:
    """One slot (--max-num-seqs 1), two streams: one running, one waiting; then the counters."""
    flags = ("--init-seconds", "0.2", "--model-size-gb", "0", "--tokens-per-second", "20")
    with modelserver(tmp_path, *flags, "--max-num-seqs", "1") as server:
        wait_ready(server, timeout_seconds=10)
        body: dict[str, object] = {"prompt": "slot", "max_tokens": 20, "ignore_eos": True}
        readers = [
            threading.Thread(target=stream, args=(server.url, "/v1/completions", body))
            for _ in range(2)
        ]
        for reader in readers:
            reader.start()
        time.sleep(0.5)
        during = httpx.get(server.url + "/metrics", timeout=5).text
        assert metric(during, "vllm:num_requests_running") == 1
        assert metric(during, "vllm:num_requests_waiting") == 1
        for reader in readers:
            reader.join(timeout=10)
        after = httpx.get(server.url + "/metrics", timeout=5).text
        assert metric(after, "vllm:num_requests_running") == 0
        assert metric(after, "vllm:num_requests_waiting") == 0
        assert metric(after, "vllm:generation_tokens_total") == 40
        assert 'vllm:request_success_total{finished_reason="length",' in after
        assert "} 2" in next(
            line for line in after.splitlines() if 'finished_reason="length"' in line
        )


def test_a_warm_marker_makes_the_next_start_warm(tmp_path: Path) -> None:
    """The first start is cold and leaves the marker; the second finds it and loads faster."""
    marker = tmp_path / "staged" / "weights-in-page-cache"
    flags = ("--init-seconds", "0.2", "--model-size-gb", "1", "--cold-load-gbps", "1")
    flags += ("--warm-load-gbps", "100", "--warm-marker", str(marker))
    with modelserver(tmp_path, *flags) as cold:
        wait_ready(cold, timeout_seconds=10)
        text = httpx.get(cold.url + "/metrics", timeout=5).text
        assert 'modelserver_load_seconds{warm="false",' in text
        assert metric(text, "modelserver_load_seconds") == pytest.approx(1.2)
    assert marker.exists()
    with modelserver(tmp_path, *flags) as warm:
        text = httpx.get(warm.url + "/metrics", timeout=5).text
        assert 'modelserver_load_seconds{warm="true",' in text
        assert metric(text, "modelserver_load_seconds") == pytest.approx(0.21)
