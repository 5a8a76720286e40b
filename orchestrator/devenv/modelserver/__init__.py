"""A stand-in for vLLM: an OpenAI-compatible model server that loads, serves and drains like one.

It runs on a bare Python 3.11 (standard library only, no third-party import), so the
``modelserver`` image needs nothing but Debian's interpreter. Inside the image this package is
installed as the top-level package ``modelserver`` (``python3.11 -m modelserver``); in the
repository it is ``orchestrator.devenv.modelserver``. Every import inside it is relative so that
both work.

Endpoints (HTTP/1.1, keep-alive)::

    POST /v1/completions        OpenAI completions; "stream": true answers server-sent events
    POST /v1/chat/completions   OpenAI chat completions; likewise
    GET  /v1/models             the one model served
    GET  /health                200 once it answers; 503 while loading or draining
    GET  /metrics               Prometheus text (vllm:num_requests_running, ...waiting, counters)

Every answer carries ``X-Gridshift-Cluster`` (``--cluster``) and ``X-Gridshift-Pod``
(``--pod-name``, default the host name, which Kubernetes sets to the pod's name).

Loading the weights. From process start the server listens at once, answers ``/health`` and
completions with 503 (with ``Retry-After``) and ``/metrics`` with ``modelserver_weights_loaded 0``;
after ``load_seconds`` it answers. The time is::

    load_seconds = init_seconds + model_size_gb / bandwidth_gbps
    bandwidth_gbps = warm_load_gbps  if --warm, or the --warm-marker file exists
                     cold_load_gbps  otherwise

The figures, for an 8B-parameter model in bf16 (16 GB of weights) on one H200: the floor
measured there is about 26 s from process start to the first token with a cold page cache and
about 15 s warm, and the cold disk-to-GPU load ran at 1.5 GB/s. So the cold load is
16 / 1.5 = 10.7 s and what a warm start keeps, about 15 s, is the fixed part: process start,
CUDA context, KV-cache allocation, CUDA-graph capture. The defaults: ``init_seconds`` 15,
``cold_load_gbps`` 1.5 (measured), ``warm_load_gbps`` 50 (an assumption, not a measurement: weights
already in the page cache or on local NVMe, copied host-to-device over PCIe Gen5 x16). That gives
15 + 10.7 = 25.7 s cold and 15 + 0.3 = 15.3 s warm. With ``--warm-marker PATH`` (a file on a
volume that outlives the pod, such as a hostPath) the server starts warm when the file exists and
creates it once loaded: the first start on a node is cold, the next ones warm.

Tokens. Each request generates at ``--tokens-per-second`` (per request, paced against its start,
so no drift), at most ``--max-num-seqs`` at a time; the rest wait (``vllm:num_requests_waiting``).
Answers are deterministic and self-checking (see :mod:`.tokens`): token ``i`` is ``" i:hhhh"``,
``hhhh`` a hash of the model, the prompt and ``i``, so a client recomputes the whole expected
answer, ``usage.completion_tokens`` and ``finish_reason`` from what it sent.

Shutdown. On SIGTERM (or SIGINT) the server closes its listening socket, so new connections are
*refused*; a request that arrives on a connection already open gets 503 with
``Connection: close``; ``/health`` turns 503 on those. Refusing the connection is chosen over
answering 503 because a refused connection never carried a request: any client or proxy may
retry it elsewhere with no risk of running a generation twice. Requests in flight run to their
end, for at most ``--shutdown-timeout`` seconds (vLLM's ``--shutdown-timeout``); then the rest are
cut and the process exits 0.

Configuration: command-line flags, each with an environment-variable fallback
(``MODELSERVER_<FLAG>``, e.g. ``MODELSERVER_TOKENS_PER_SECOND``) so a pod spec can set them; see
``python -m modelserver --help``.
"""

from __future__ import annotations
