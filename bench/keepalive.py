"""Which WSGI server should ``porta serve`` use? Measured, as ratios against gunicorn sync.

Starts Porta three times on one fresh SQLite demo database, all on 127.0.0.1, same worker
count:

* ``sync``    gunicorn sync workers (the baseline: closes every connection),
* ``gthread`` gunicorn gthread workers (threads per worker, keep-alive 75 s, as idp/server.py),
* ``granian`` granian's WSGI interface (blocking threads per worker, as idp/server.py),

then sends bounded, interleaved load to discovery, JWKS and the token endpoint
(client_credentials) from N client threads, each with one keep-alive ``requests.Session``,
and again with a new connection per request. Prints requests/s and p50/p99 latency as
ratios against sync measured in the same run, the TCP connections the clients had to open,
and whether a server answered keep-alive requests with ``Connection: close``.

    python bench/keepalive.py            # about 2-3 minutes on 2 cores
    python bench/keepalive.py --quick    # a smoke run, ~30 s
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict

import _harness as h

SERVERS = ("sync", "gthread", "granian")
BASELINE = "sync"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per run")
    parser.add_argument("--reps", type=int, default=4, help="repetitions of every run")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--server-threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--run-seconds", type=float, default=2.0, help="cap on one run")
    parser.add_argument("--budget", type=float, default=170.0, help="stop measuring after")
    parser.add_argument(
        "--modes",
        choices=("both", "keep-alive", "new-conn"),
        default="both",
        help="client connection handling to measure",
    )
    parser.add_argument("--quick", action="store_true", help="300 requests, 1 repetition")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.reps = 300, 1

    h.install_sigterm_as_interrupt()
    h.watchdog(args.budget + 40)
    started = time.monotonic()
    ports = {kind: h.free_port() for kind in SERVERS}
    try:
        with (
            h.temp_dir("porta-bench-keepalive-") as workdir,
            _servers(args, ports, workdir) as (setup, pids),
        ):
            cells = _measure(args, ports, pids, setup, started)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    _report(args, cells)
    print(f"\ntotal {time.monotonic() - started:.0f}s")
    return 0


class _servers:
    """Set up the database, then start the three servers; stop them all on exit."""

    def __init__(self, args, ports, workdir) -> None:
        self.args, self.ports, self.workdir = args, ports, workdir
        self.stack = h.contextlib.ExitStack()

    def __enter__(self) -> tuple[h.PortaSetup, dict[str, int]]:
        issuer = f"http://127.0.0.1:{self.ports[BASELINE]}"
        setup = h.porta_setup(self.workdir, issuer)
        pids: dict[str, int] = {}
        try:
            for kind in SERVERS:
                port = self.ports[kind]
                command = h.wsgi_command(
                    kind,
                    port,
                    self.args.workers,
                    self.args.server_threads,
                    "idp.wsgi:app",
                    self.workdir,
                )
                pids[kind] = self.stack.enter_context(
                    h.server(
                        kind,
                        command,
                        env=setup.env,
                        cwd=self.workdir,
                        log_dir=self.workdir,
                        ready_url=f"http://127.0.0.1:{port}/.well-known/openid-configuration",
                    )
                ).pid
                print(f"started {kind:8} on 127.0.0.1:{port}", flush=True)
        except BaseException:
            self.stack.close()
            raise
        return setup, pids

    def __exit__(self, *exc) -> None:
        self.stack.close()
        print("servers stopped", flush=True)


def _calls(setup: h.PortaSetup) -> list[h.Call]:
    return [
        h.Call("discovery", "GET", "/.well-known/openid-configuration"),
        h.Call("jwks", "GET", "/jwks.json"),
        h.Call(
            "token",
            "POST",
            "/token",
            data={"grant_type": "client_credentials", "scope": "bench"},
            auth=(setup.client_id, setup.client_secret),
        ),
    ]


def _measure(args, ports, pids, setup, started):
    calls = _calls(setup)
    for kind in SERVERS:
        h.warm_up(f"http://127.0.0.1:{ports[kind]}", calls)
    modes = {"both": (True, False), "keep-alive": (True,), "new-conn": (False,)}[args.modes]
    scenarios = [(call, keepalive) for call in calls for keepalive in modes]
    cells: dict[tuple[str, str, bool], h.Cell] = defaultdict(h.Cell)
    plan = list(h.interleaved(SERVERS, scenarios, args.reps))
    for number, (rep, call, keepalive, kind) in enumerate(plan, 1):
        if time.monotonic() - started > args.budget:
            print(f"budget of {args.budget:.0f}s reached: {len(plan) - number + 1} runs skipped")
            break
        result = h.run_load(
            f"http://127.0.0.1:{ports[kind]}",
            call,
            total=args.requests,
            threads=args.threads,
            keepalive=keepalive,
            max_seconds=args.run_seconds,
            server_pgid=pids[kind],
        )
        cells[(kind, call.name, keepalive)].runs.append(result)
        mode = "keep-alive" if keepalive else "new-conn"
        print(
            f"[{number:3}/{len(plan)}] rep {rep + 1} {call.name:9} {mode:10} {kind:8} "
            f"{result.rps:7.0f} req/s  p50 {h.percentile(result.latencies_ms, 50):6.1f} ms  "
            f"cpu {result.cpu_ms_per_request:5.2f} ms/req  conns {result.connections:5}  "
            f"errors {result.errors}",
            flush=True,
        )
    return cells


def _report(args, cells) -> None:
    names = ["discovery", "jwks", "token"]
    print(
        f"\nRatios against gunicorn sync measured in this run "
        f"({args.workers} workers, {args.server_threads} threads/worker where threaded, "
        f"{args.threads} client threads, {args.requests} requests x {args.reps} reps).\n"
        "req/s: higher is better; p50/p99 latency and server CPU per request: lower is better.\n"
    )
    rows = []
    for keepalive in (True, False):
        mode = "keep-alive session" if keepalive else "new connection/request"
        for name in names:
            base = cells.get((BASELINE, name, keepalive))
            if base is None or not base.runs:
                continue
            for kind in SERVERS:
                cell = cells.get((kind, name, keepalive))
                if cell is None or not cell.runs:
                    continue
                rows.append(
                    [
                        mode,
                        name,
                        kind,
                        h.rps_ratio(cell, base),
                        h.ratio(cell.latency(50), base.latency(50)),
                        h.ratio(cell.latency(99), base.latency(99)),
                        h.ratio(cell.cpu_ms_per_request, base.cpu_ms_per_request),
                        f"{cell.rps:.0f}",
                        f"{cell.cpu_ms_per_request:.2f}",
                        f"{cell.latency(50):.1f}/{cell.latency(99):.1f}",
                        f"{cell.connections}/{cell.requests}",
                        "yes" if cell.saw_close else "no",
                        str(cell.errors),
                    ]
                )
    print(
        h.format_table(
            [
                "client",
                "endpoint",
                "server",
                "req/s (min-max)",
                "p50",
                "p99",
                "CPU/req",
                "abs req/s",
                "abs CPU ms/req",
                "abs p50/p99 ms",
                "TCP conns/reqs",
                "Conn: close",
                "errors",
            ],
            rows,
        )
    )
    _verdict(cells, names, args.threads)


def _verdict(cells, names, threads) -> None:
    print(
        "\nGeometric mean over the three endpoints of the median paired req/s ratio vs sync"
        " (keep-alive clients):"
    )
    scores = {}
    for kind in SERVERS:
        logs = []
        for name in names:
            base, cell = cells.get((BASELINE, name, True)), cells.get((kind, name, True))
            pairs = h.paired_ratios(cell, base) if base and cell else []
            if pairs:
                logs.append(math.log(h.statistics.median(pairs)))
        if logs:
            scores[kind] = math.exp(sum(logs) / len(logs))
            print(f"  {kind:8} {scores[kind]:.2f}x")
    print("Geometric mean over the three endpoints of server CPU per request vs sync:")
    cpu_scores = {}
    for kind in SERVERS:
        logs = [
            math.log(cells[(kind, n, True)].cpu_ms_per_request / base_cpu)
            for n in names
            if (kind, n, True) in cells
            and (BASELINE, n, True) in cells
            and (base_cpu := cells[(BASELINE, n, True)].cpu_ms_per_request) > 0
            and cells[(kind, n, True)].cpu_ms_per_request > 0
        ]
        if logs:
            cpu_scores[kind] = math.exp(sum(logs) / len(logs))
            print(f"  {kind:8} {cpu_scores[kind]:.2f}x")
    reused = {
        kind: all(
            (c := cells.get((kind, n, True))) is None or c.connections <= 2 * threads * len(c.runs)
            for n in names
        )
        for kind in SERVERS
    }
    for kind in SERVERS:
        print(f"  {kind:8} keeps connections alive: {'yes' if reused[kind] else 'no'}")
    thrifty = {k: v for k, v in cpu_scores.items() if k != BASELINE and reused[k]}
    if len(thrifty) > 1:
        ranked_cpu = sorted(thrifty, key=thrifty.get)
        print(
            f"\nLeast server CPU per request: {ranked_cpu[0]}, "
            f"{thrifty[ranked_cpu[0]] / thrifty[ranked_cpu[1]]:.2f}x the CPU of {ranked_cpu[1]}"
        )
    contenders = {k: v for k, v in scores.items() if k != BASELINE and reused[k]}
    if not contenders:
        return
    ranked = sorted(contenders, key=contenders.get, reverse=True)
    best = ranked[0]
    if len(ranked) == 1:
        print(f"\nOnly keep-alive server measured: {best}")
        return
    runner_up = ranked[1]
    margin = contenders[best] / contenders[runner_up]
    # "Clearly" needs a margin beyond this machine's run-to-run noise and a win on every
    # endpoint; otherwise either server is a sound choice.
    every_endpoint = all(
        h.statistics.median(h.paired_ratios(cells[(best, n, True)], cells[(BASELINE, n, True)]))
        >= h.statistics.median(
            h.paired_ratios(cells[(runner_up, n, True)], cells[(BASELINE, n, True)])
        )
        for n in names
        if (best, n, True) in cells and (runner_up, n, True) in cells
    )
    clear = margin >= 1.15 and every_endpoint
    verdict = "clearly" if clear else "not clearly (within this machine's noise)"
    print(
        f"\nFastest keep-alive server: {best}, {verdict}: {margin:.2f}x {runner_up} "
        f"(geometric mean), ahead on every endpoint: {'yes' if every_endpoint else 'no'}"
    )


if __name__ == "__main__":
    sys.exit(main())
