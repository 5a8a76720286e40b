"""A throwaway containerd for the image tests: its own root, state and socket in a temp dir.

The settings are the ones a real node of the local fleet needs on these machines (see the README's
local fleet): ``restrict_oom_score_adj`` (the VM refuses -998), cgroupfs rather than systemd,
overlayfs, a local pause image as the sandbox image, runc's state under our own directory. The
tests run containers with ``ctr run`` in the host's network namespace (``--net-host``) and reach
them on loopback only. Everything it started is stopped on the way out, bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.devenv import procs
from orchestrator.devenv.images import ImageArchive

NAMESPACE = "k8s.io"
START_SECONDS = 30


def _config(directory: Path, sandbox_image: str) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    quoted = {name: json.dumps(str(directory / name)) for name in ("root", "state", "opt", "cni")}
    return f"""version = 2
root = {quoted["root"]}
state = {quoted["state"]}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = {json.dumps(str(directory / "containerd.sock"))}
[ttrpc]
  address = ""
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = {quoted["opt"]}
[{cri}]
  sandbox_image = {json.dumps(sandbox_image)}
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = {json.dumps(str(directory / "state" / "runc"))}
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = {quoted["cni"]}
"""


@dataclass
class Containerd:
    """One containerd process and the ``ctr`` commands the tests give it."""

    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.directory / "containerd.sock"

    def ctr(self, *args: str, timeout: float = 60) -> str:
        """Run ``ctr`` against this containerd; its output (a failure raises, with stderr)."""
        command = ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def load(self, archive: ImageArchive) -> None:
        """Import an image archive the way the fleet does, and check its reference is listed."""
        command = archive.import_command(address=self.socket, namespace=NAMESPACE)
        subprocess.run(command, check=True, capture_output=True, timeout=300)
        assert archive.ref in self.ctr("images", "list", "-q").split()

    def start(
        self, ref: str, container: str, args: Sequence[str] = (), *, flags: Sequence[str] = ()
    ) -> subprocess.Popen[str]:
        """``ctr run --rm`` in the foreground: the Popen ends with the container's exit code."""
        command = ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, "run", "--rm"]
        command += ["--runc-root", str(self.directory / "state" / "runc")]
        command += ["--fifo-dir", str(self.directory / "fifo"), *flags, ref, container, *args]
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(
        self, ref: str, container: str, args: Sequence[str], *, flags: Sequence[str] = ()
    ) -> tuple[int, str]:
        """Run a container to its end (60 s at most); its exit code and output."""
        started = self.start(ref, container, args, flags=flags)
        try:
            output, _ = started.communicate(timeout=60)
        finally:
            if started.poll() is None:
                started.kill()
                started.wait(timeout=10)
        return started.returncode, output

    def task_pid(self, container: str, *, timeout_seconds: float = 30) -> int:
        """The host PID of a container's process, once it runs."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            for line in self.ctr("tasks", "list").splitlines()[1:]:
                name, pid, status = line.split()
                if name == container and status == "RUNNING":
                    return int(pid)
            time.sleep(0.1)
        raise AssertionError(f"container {container} did not start within {timeout_seconds} s")

    def stop(self) -> None:
        """Kill every task, remove every container, stop containerd and any shim left over."""
        with contextlib.suppress(AssertionError, OSError, subprocess.SubprocessError):
            for task in self.ctr("tasks", "list", "-q", timeout=10).split():
                self.ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=10)
            time.sleep(0.5)
            for task in self.ctr("tasks", "list", "-q", timeout=10).split():
                self.ctr("tasks", "delete", "--force", task, timeout=10)
            for container in self.ctr("containers", "list", "-q", timeout=10).split():
                self.ctr("containers", "delete", container, timeout=10)
        procs.terminate([self.process.pid], grace_seconds=10)
        self.process.wait(timeout=10)
        # shims outlive containerd by design; ours name our socket's directory
        procs.terminate([p.pid for p in procs.find(str(self.directory))], grace_seconds=5)


@contextlib.contextmanager
def throwaway_containerd(sandbox: ImageArchive) -> Iterator[Containerd]:
    """A containerd of its own, answering on its socket; stopped however the test ends."""
    directory = Path(tempfile.mkdtemp(prefix="gs-ctr-"))
    (directory / "cni").mkdir()
    (directory / "containerd.toml").write_text(_config(directory, sandbox.ref))
    with (directory / "containerd.log").open("wb") as log:
        process = subprocess.Popen(
            ["containerd", "--config", str(directory / "containerd.toml")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    runtime = Containerd(directory, process)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            with contextlib.suppress(AssertionError, subprocess.SubprocessError):
                runtime.ctr("version", timeout=5)
                break
            if time.monotonic() > deadline or process.poll() is not None:
                log_text = (directory / "containerd.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"containerd did not answer in {START_SECONDS} s:\n{log_text}")
            time.sleep(0.2)
        yield runtime
    finally:
        runtime.stop()
        mounts = Path("/proc/mounts").read_text()
        if str(directory) not in mounts:  # never delete through a mount left behind
            shutil.rmtree(directory, ignore_errors=True)
