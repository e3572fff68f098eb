"""A real multi-node Ray on this machine for tests: `ray start --head --block` plus worker nodes
(`ray start --address ... --block`), each with its own resources, in its own temp dir. Only the
processes it started are stopped (never `ray stop`, which ends every Ray on the machine)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil

BINDIR = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env(extra: dict | None = None) -> dict:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", **(extra or {})}
    env["PATH"] = BINDIR + os.pathsep + env.get("PATH", "")
    return env


def wait_for_dashboard(head: subprocess.Popen, dash: int, timeout_s: float = 180) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        assert head.poll() is None, "ray start --head exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{dash}/api/version", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError("the Ray dashboard did not come up")


def stop_tree(proc: subprocess.Popen) -> None:
    """Stop a `ray start --block` and every process it started (GCS, raylet, dashboard, workers,
    a job's driver), and nothing else: a user's own Ray on this machine is left alone."""
    try:
        root = psutil.Process(proc.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=30)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=30)


class LocalCluster:
    """A head and worker nodes as separate `ray start` processes (real raylets, real GCS, the
    dashboard and job server on loopback)."""

    def __init__(self, head_cpus: int = 0, env: dict | None = None, object_store_mb: int = 1024):
        self.env, self.object_store = ray_env(env), object_store_mb * 2**20
        self.port, self.dash = free_port(), free_port()
        # its own temp dir: the address file `ray start` writes stays out of /tmp/ray, where a later
        # ray.init() (here or a user's) would find it and try to join this cluster after it is gone
        self.temp = tempfile.mkdtemp(prefix="w2s-ray-", dir="/tmp")
        self.procs = [self._start("--head", f"--port={self.port}", f"--num-cpus={head_cpus}",
                                  "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dash}")]
        wait_for_dashboard(self.procs[0], self.dash)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dash}"

    def _start(self, *args: str) -> subprocess.Popen:
        """One `ray start --block` (its output in <temp>/node<i>.log); a small object store per
        node: several nodes share this machine's memory."""
        log = open(os.path.join(self.temp, f"node{len(getattr(self, 'procs', []))}.log"), "w")
        return subprocess.Popen([os.path.join(BINDIR, "ray"), "start", "--block", f"--temp-dir={self.temp}",
                                 "--disable-usage-stats", f"--object-store-memory={self.object_store}", *args],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def node_logs(self) -> str:
        """The tail of every `ray start` output (for an assertion message)."""
        out = []
        for i in range(len(self.procs)):
            with open(os.path.join(self.temp, f"node{i}.log")) as fh:
                out.append(f"--- node{i} (exit {self.procs[i].poll()}):\n" + fh.read()[-1500:])
        return "\n".join(out)

    def add_node(self, num_cpus: int, num_gpus: int = 0, resources: dict | None = None) -> list[dict]:
        """Start a worker node and wait until it has joined (one at a time: two raylets starting
        together on 2 cores can miss their registration deadline). Returns the alive nodes."""
        args = [f"--address={self.address}", f"--num-cpus={num_cpus}", f"--num-gpus={num_gpus}"]
        if resources:
            args.append(f"--resources={json.dumps(resources)}")
        self.procs.append(self._start(*args))
        return self.wait_for_nodes(len(self.procs))

    def wait_for_nodes(self, n: int, timeout_s: float = 180) -> list[dict]:
        """The alive nodes (state API) once there are `n`."""
        from ray.util.state import list_nodes

        deadline = time.time() + timeout_s
        while True:
            nodes = [vars(x) if not isinstance(x, dict) else x
                     for x in list_nodes(address=self.dashboard, detail=True)]
            alive = [x for x in nodes if x["state"] == "ALIVE"]
            if len(alive) >= n:
                return alive
            assert all(p.poll() is None for p in self.procs), "a ray start process exited:\n" + self.node_logs()
            assert time.time() < deadline, f"{len(alive)} of {n} nodes came up"
            time.sleep(1)

    def ray(self, *args: str, timeout: float = 1800, **kw) -> subprocess.CompletedProcess:
        """The `ray` CLI against this cluster's dashboard (job submit / logs / status)."""
        return subprocess.run([os.path.join(BINDIR, "ray"), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, **kw)

    def close(self) -> None:
        for p in reversed(self.procs):
            stop_tree(p)
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
