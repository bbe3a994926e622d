"""Shared machinery for the benchmarks: servers we start and stop ourselves, a bounded load
generator, and tables of ratios.

Everything here talks to 127.0.0.1 only. Every server is started in its own process group
(``start_new_session``) and stopped by that PID when the ``with`` block ends, on error and on
Ctrl-C alike. A watchdog interrupts the run if it overstays its time budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
# The interpreter of the active virtualenv (sys.executable may name the base interpreter).
_VENV_PYTHON = Path(sys.prefix) / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789"
READY_TIMEOUT_S = 60.0


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group we created for this server, then SIGKILL what lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=12)
    # Workers of a master that died first would still be in the group: end them too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def server(
    name: str,
    command: Sequence[str],
    *,
    ready_url: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log_dir: Path,
) -> Iterator[subprocess.Popen]:
    """Start ``command``, wait until ``ready_url`` answers 200, yield, then stop it by PID."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} not ready in {READY_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}"
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(ready_url, timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield process
    finally:
        _stop_group(process)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds used so far by the live processes of process group ``pgid``
    (a server's master and workers, all threads), read from /proc (Linux)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # After "pid (comm)": state ppid pgrp ... utime(12th) stime(13th), 0-based 11, 12.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def watchdog(budget_s: float) -> threading.Timer:
    """Interrupt the main thread (so ``finally`` blocks stop the servers) after ``budget_s``."""

    def fire() -> None:
        print(
            f"\n!! time budget of {budget_s:.0f}s exceeded: stopping", file=sys.stderr, flush=True
        )
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(budget_s, fire)
    timer.daemon = True
    timer.start()
    return timer


def install_sigterm_as_interrupt() -> None:
    """Let ``kill <pid>`` clean up like Ctrl-C does; also when started with ``&``, where the
    shell leaves SIGINT ignored (the watchdog relies on SIGINT)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def wsgi_command(
    kind: str, port: int, workers: int, threads: int, app: str, workdir: Path
) -> list[str]:
    """The command line serving WSGI ``app`` on 127.0.0.1:``port`` with server ``kind``.

    ``sync``: gunicorn sync workers; ``gthread``: gunicorn gthread workers with ``threads``
    threads and a 75 s keep-alive (as ``idp/server.py``); ``granian``: granian's WSGI
    interface with ``threads`` blocking threads per worker (as ``idp/server.py``).
    No access logs anywhere, so the servers do the same work.
    """
    if kind == "granian":
        return [
            PYTHON,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
            app,
        ]
    common = [
        PYTHON,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--control-socket",
        str(workdir / f"gunicorn-{port}.ctl"),
        "--graceful-timeout",
        "5",
    ]
    if kind == "sync":
        return [*common, "--worker-class", "sync", app]
    if kind == "gthread":
        return [
            *common,
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "75",
            app,
        ]
    raise ValueError(f"unknown server kind {kind!r}")


# -- a Porta database for the benchmark ----------------------------------------------------


@dataclass
class PortaSetup:
    """A temp SQLite database with the demo data and a client_credentials client."""

    workdir: Path
    env: dict[str, str]
    client_id: str
    client_secret: str


def porta_setup(workdir: Path, issuer: str) -> PortaSetup:
    """``porta demo --no-serve`` then ``porta clients create`` on a fresh SQLite file."""
    env = {
        "PORTA_DATABASE_URL": f"sqlite:///{workdir / 'porta.sqlite'}",
        "PORTA_ISSUER": issuer,
        "PORTA_SECRET_KEY": SECRET_KEY,
    }
    full_env = {**os.environ, **env}
    porta = [PYTHON, "-m", "idp.cli"]

    def run(*arguments: str) -> str:
        done = subprocess.run(
            [*porta, *arguments],
            env=full_env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"porta {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    run("demo", "--no-serve")
    created = run(
        "clients",
        "create",
        "--name",
        "bench",
        "--grant-type",
        "client_credentials",
        "--scope",
        "bench",
        "--json",
    )
    credentials = json.loads(created.strip().splitlines()[-1])
    # The servers import idp from the checkout, whatever the temp cwd.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return PortaSetup(workdir, env, credentials["client_id"], credentials["client_secret"])


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


# -- load ------------------------------------------------------------------------------------


@dataclass
class Call:
    """One kind of request: how to send it and which status means success."""

    name: str
    method: str
    path: str
    data: dict[str, str] | None = None
    auth: tuple[str, str] | None = None
    expect: int = 200


_connects = threading.local()


def _counting_create_connection(original: Callable) -> Callable:
    def create_connection(*args, **kwargs):
        _connects.count = getattr(_connects, "count", 0) + 1
        return original(*args, **kwargs)

    create_connection.counting = True  # type: ignore[attr-defined]
    return create_connection


def count_tcp_connects() -> None:
    """Count every TCP connect urllib3 makes, per thread (a reconnect reuses the pool's
    connection object, so the pool's own ``num_connections`` undercounts)."""
    import urllib3.connection

    module = urllib3.connection.connection
    if not getattr(module.create_connection, "counting", False):
        module.create_connection = _counting_create_connection(module.create_connection)


@dataclass
class RunResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    connections: int
    saw_connection_close: bool
    server_cpu_s: float = float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_s * 1000.0 / self.requests if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_load(
    base_url: str,
    call: Call,
    *,
    total: int,
    threads: int,
    keepalive: bool,
    max_seconds: float,
    server_pgid: int | None = None,
) -> RunResult:
    """Send ``total`` requests from ``threads`` threads, one ``requests.Session`` each.

    ``keepalive=False`` sends ``Connection: close`` so every request opens a new TCP
    connection. Stops early after ``max_seconds``. Counts the TCP connections each session's
    made: with keep-alive that should be one per thread. With ``server_pgid``, also the CPU
    time the server's processes spent, which the client's own CPU use cannot distort.
    """
    count_tcp_connects()
    url = base_url + call.path
    headers = {} if keepalive else {"Connection": "close"}
    per_thread = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    connections = [0] * threads
    saw_close = [False] * threads
    start_gate = threading.Barrier(threads + 1)
    deadline_box: list[float] = [0.0]

    def worker(index: int) -> None:
        session = requests.Session()
        mine = latencies[index]
        connects_before = getattr(_connects, "count", 0)
        try:
            start_gate.wait()
            deadline = deadline_box[0]
            for _ in range(per_thread[index]):
                if time.perf_counter() > deadline:
                    break
                began = time.perf_counter()
                try:
                    response = session.request(
                        call.method,
                        url,
                        data=call.data,
                        auth=call.auth,
                        headers=headers,
                        timeout=10,
                    )
                    _ = response.content
                    ok = response.status_code == call.expect
                    if keepalive and response.headers.get("Connection", "").lower() == "close":
                        saw_close[index] = True
                except requests.RequestException:
                    ok = False
                mine.append((time.perf_counter() - began) * 1000.0)
                if not ok:
                    errors[index] += 1
            connections[index] = getattr(_connects, "count", 0) - connects_before
        finally:
            session.close()

    pool_threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool_threads:
        thread.start()
    cpu_before = group_cpu_seconds(server_pgid) if server_pgid else float("nan")
    began = time.perf_counter()
    deadline_box[0] = began + max_seconds
    start_gate.wait()
    for thread in pool_threads:
        thread.join(max_seconds + 15)
    elapsed = time.perf_counter() - began
    cpu = group_cpu_seconds(server_pgid) - cpu_before if server_pgid else float("nan")
    flat = [x for chunk in latencies for x in chunk]
    return RunResult(len(flat), elapsed, flat, sum(errors), sum(connections), any(saw_close), cpu)


def warm_up(base_url: str, calls: Sequence[Call], count: int = 40) -> None:
    """A few requests per call so every worker has imported and connected before timing."""
    with requests.Session() as session:
        for call in calls:
            for _ in range(count):
                response = session.request(
                    call.method, base_url + call.path, data=call.data, auth=call.auth, timeout=10
                )
                if response.status_code != call.expect:
                    raise RuntimeError(
                        f"{base_url}{call.path}: {response.status_code} {response.text[:300]}"
                    )


# -- aggregation and tables -------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Cell:
    """All repetitions of one (target, call, mode)."""

    runs: list[RunResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs) if self.runs else float("nan")

    def latency(self, q: float) -> float:
        return percentile([x for r in self.runs for x in r.latencies_ms], q)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per request over all repetitions."""
        requests = self.requests
        cpu = sum(r.server_cpu_s for r in self.runs)
        return cpu * 1000.0 / requests if requests else float("nan")

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def connections(self) -> int:
        return sum(r.connections for r in self.runs)

    @property
    def saw_close(self) -> bool:
        return any(r.saw_connection_close for r in self.runs)


def interleaved(
    targets: Sequence[str], scenarios: Sequence[tuple[Call, bool]], reps: int
) -> Iterator[tuple[int, Call, bool, str]]:
    """Repetition-major order, targets rotated each time, so drift in machine load is shared."""
    for rep in range(reps):
        for index, (call, keepalive) in enumerate(scenarios):
            shift = (rep + index) % len(targets)
            for target in [*targets[shift:], *targets[:shift]]:
                yield rep, call, keepalive, target


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def paired_ratios(cell: Cell, base: Cell) -> list[float]:
    """req/s ratio of each repetition against the baseline run of the same repetition.

    Runs of one repetition are adjacent in time, so a burst of load from elsewhere on the
    machine hits both; the median of these pairs is steadier than a ratio of medians.
    """
    return [c.rps / b.rps for c, b in zip(cell.runs, base.runs, strict=False) if b.rps]


def rps_ratio(cell: Cell, base: Cell) -> str:
    """``median (min-max)`` of the paired req/s ratios."""
    pairs = paired_ratios(cell, base)
    if not pairs:
        return "n/a"
    if len(pairs) == 1:
        return f"{pairs[0]:.2f}x"
    return f"{statistics.median(pairs):.2f}x ({min(pairs):.2f}-{max(pairs):.2f})"


def ratio(value: float, base: float) -> str:
    if base != base or value != value or base == 0:  # NaN-safe
        return "n/a"
    return f"{value / base:.2f}x"


def timed_section(label: str) -> Callable[[], None]:
    began = time.monotonic()

    def done() -> None:
        print(f"   {label}: {time.monotonic() - began:.1f}s", flush=True)

    return done
