"""The model-server stand-in's pure parts: its load-time formula, flags, answers and metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.devenv.modelserver import config, openai, tokens
from orchestrator.devenv.modelserver.metrics import Stats

MODEL = "gridshift/standin-8b"


def test_an_8b_bf16_model_loads_in_about_26_s_cold_and_15_s_warm() -> None:
    """The defaults reproduce the H200 floor: 16 GB at 1.5 GB/s plus the fixed start-up."""
    defaults = config.parse([], environ={})
    assert defaults.model_size_gb == 16
    assert defaults.load_seconds(warm=False) == pytest.approx(26, abs=0.5)
    assert defaults.load_seconds(warm=True) == pytest.approx(15, abs=0.5)
    assert not defaults.starts_warm()


def test_flags_win_over_the_environment_which_wins_over_defaults() -> None:
    env = {"MODELSERVER_TOKENS_PER_SECOND": "7", "MODELSERVER_CLUSTER": "hubei"}
    parsed = config.parse(["--cluster", "ningxia"], environ=env)
    assert parsed.tokens_per_second == 7
    assert parsed.cluster == "ningxia"
    assert config.parse([], environ={"MODELSERVER_WARM": "yes"}).starts_warm()


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ([], {"MODELSERVER_PORT": "eighty"}),
        ([], {"MODELSERVER_COLD_LOAD_GBPS": "0"}),
        (["--tokens-per-second", "-1"], {}),
        ([], {"MODELSERVER_WARM": "perhaps"}),
    ],
)
def test_a_bad_value_stops_with_exit_code_2(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        config.parse(argv, environ=env)
    assert stopped.value.code == 2
    assert "argument --" in capsys.readouterr().err


def test_the_warm_marker_file_means_warm(tmp_path: Path) -> None:
    marker = tmp_path / "staged"
    parsed = config.parse(["--warm-marker", str(marker)], environ={})
    assert not parsed.starts_warm()
    marker.touch()
    assert parsed.starts_warm()


@given(st.text(max_size=40), st.integers(1, 300), st.integers(0, 50))
def test_a_longer_limit_extends_the_same_answer(prompt: str, limit: int, more: int) -> None:
    """Token i never depends on the limit: a shorter answer is a prefix of a longer one."""
    key = tokens.completion_key(prompt)
    short = tokens.expected(MODEL, key, max_tokens=limit, ignore_eos=True)
    long = tokens.expected(MODEL, key, max_tokens=limit + more, ignore_eos=True)
    assert long.tokens[: len(short.tokens)] == short.tokens
    assert len(short.tokens) == limit
    assert [int(t.split(":")[0]) for t in short.tokens] == list(range(limit))


@given(st.text(max_size=40), st.integers(1, 400))
def test_an_answer_stops_at_its_natural_length_or_the_limit(prompt: str, limit: int) -> None:
    key = tokens.completion_key(prompt)
    natural = tokens.natural_length(MODEL, key)
    answer = tokens.expected(MODEL, key, max_tokens=limit)
    assert 8 <= natural <= 256
    assert len(answer.tokens) == min(limit, natural)
    assert answer.finish_reason == ("stop" if natural <= limit else "length")


def test_answers_depend_on_the_prompt_the_roles_and_the_model() -> None:
    user = tokens.chat_key([("user", "hello")])
    system = tokens.chat_key([("system", "hello")])
    assert user != system
    a = tokens.expected(MODEL, user, max_tokens=20, ignore_eos=True)
    assert a != tokens.expected(MODEL, system, max_tokens=20, ignore_eos=True)
    assert a != tokens.expected("other-model", user, max_tokens=20, ignore_eos=True)
    assert a == tokens.expected(MODEL, user, max_tokens=20, ignore_eos=True)


@pytest.mark.parametrize(
    ("kind", "body", "status"),
    [
        ("completion", b"[1]", 400),
        ("completion", b'{"prompt": 3}', 400),
        ("completion", b'{"prompt": ["a", "b"]}', 400),
        ("completion", b'{"prompt": "a", "max_tokens": 0}', 400),
        ("completion", b'{"prompt": "a", "max_tokens": true}', 400),
        ("chat", b'{"messages": []}', 400),
        ("chat", b'{"messages": [{"content": "no role"}]}', 400),
        ("chat", b'{"model": "m2", "messages": [{"role": "user", "content": "x"}]}', 404),
    ],
)
def test_requests_that_are_refused(kind: openai.Kind, body: bytes, status: int) -> None:
    with pytest.raises(openai.InvalidRequest) as refused:
        openai.parse(kind, body, model=MODEL, default_max_tokens=16, max_model_len=8192)
    assert refused.value.status == status


def test_metrics_are_prometheus_text_with_vllm_names() -> None:
    stats = Stats(model=MODEL, load_seconds=25.7, warm=False, running=2, waiting=1)
    stats.finished["stop"] += 3
    stats.responses[("/health", 503)] += 1
    text = stats.render()
    sample = re.compile(r'^[a-z_:]+\{([a-z_]+="[^"]*",?)+\} -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert 'vllm:num_requests_running{model_name="gridshift/standin-8b"} 2' in text
    assert 'vllm:num_requests_waiting{model_name="gridshift/standin-8b"} 1' in text
    assert 'vllm:request_success_total{finished_reason="stop",' in text
    assert 'modelserver_weights_loaded{model_name="gridshift/standin-8b"} 0' in text
    assert 'modelserver_http_responses_total{code="503",endpoint="/health"} 1' in text
