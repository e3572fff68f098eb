"""A real multi-node Ray on this machine for tests: `ray start --head --block` plus worker nodes
(`ray start --address ... --block`), each with its own resources, in its own temp dir. Only the
processes it started are stopped (never `ray stop`, which ends every Ray on the machine)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil

BINDIR = os.path.dirname(sys.executable)
HEAD_ATTEMPTS = 3


def _ephemeral() -> range:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            lo, hi = map(int, fh.read().split())
        return range(lo, hi + 1)
    except OSError:
        return range(32768, 61000)


def free_port() -> int:
    """A free port outside the kernel's ephemeral range (and Ray's worker ports 10002-19999):
    a port from bind(0) is free when asked but is handed out again to the next process that
    binds 0, and Ray's own GCS, raylet and agents do that before the dashboard binds the port
    we chose (the head then lost its dashboard port)."""
    eph = _ephemeral()
    for _ in range(200):
        port = random.randrange(20000, 32768)
        if port in eph:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # no luck: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env(extra: dict | None = None) -> dict:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", **(extra or {})}
    env["PATH"] = BINDIR + os.pathsep + env.get("PATH", "")
    return env


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
        # its own temp dir: the address file `ray start` writes stays out of /tmp/ray, where a later
        # ray.init() (here or a user's) would find it and try to join this cluster after it is gone
        self.temp = tempfile.mkdtemp(prefix="w2s-ray-", dir="/tmp")
        for attempt in range(HEAD_ATTEMPTS):
            # a free port is free when asked, not when the head binds it: another process took the
            # dashboard's port once (the head then exited); a new head gets new ports (node0.log again)
            self.port, self.dash, self.procs = free_port(), free_port(), []
            self.procs.append(self._start("--head", f"--port={self.port}", f"--num-cpus={head_cpus}",
                                          f"--ray-client-server-port={free_port()}", "--dashboard-host=127.0.0.1",
                                          f"--dashboard-port={self.dash}",
                                          f"--dashboard-agent-listen-port={free_port()}"))
            if self._wait_for_head():
                return
            stop_tree(self.procs[0])
            if attempt == HEAD_ATTEMPTS - 1:
                logs = self.node_logs()
                shutil.rmtree(self.temp, ignore_errors=True)
                raise AssertionError(f"ray start --head: a port was taken {HEAD_ATTEMPTS} times:\n" + logs)

    def _wait_for_head(self, timeout_s: float = 180) -> bool:
        """True once the dashboard answers; False when the head lost a port to another process
        (retry on new ports); any other failure raises with the head's output."""
        head, log = self.procs[0], os.path.join(self.temp, "node0.log")
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            with open(log) as fh:
                text = fh.read()
            if "address already in use" in text or "already occupied" in text:
                return False
            if head.poll() is not None:
                shutil.rmtree(self.temp, ignore_errors=True)
                raise AssertionError("ray start --head exited:\n" + text[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.dash}/api/version", timeout=2):
                    return True
            except OSError:
                time.sleep(1)
        logs = self.node_logs()
        stop_tree(head)
        raise TimeoutError("the Ray dashboard did not come up:\n" + logs)

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
