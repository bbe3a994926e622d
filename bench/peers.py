"""Porta against its peers, side by side in one run (DESIGN §9), as ratios against bare Flask.

Targets, all on 127.0.0.1 with the same worker count:

* ``bare-flask`` — the floor: Flask returning Porta's discovery and JWKS documents from
  memory and a fixed token body after a Basic-auth check (``peer_apps.create_bare_app``),
* ``authlib``   — a minimal Authlib provider: discovery, JWKS, client_credentials with RS256
  JWT access tokens recorded in SQLite (``peer_apps.create_authlib_app``),
* ``porta``     — Porta on a fresh SQLite demo database,
* ``node-oidc`` — node-oidc-provider (the version tests/interop/node_op pins), a node:cluster
  of the same number of processes; skipped with the reason printed if node or the package
  is missing.

The Python targets run under the same WSGI server (``--server``, default gunicorn gthread,
Porta's current default). Load: N client threads with one keep-alive ``requests.Session``
each (add ``--new-connections`` for the connection-per-request shape too), bounded requests
per run, repetitions interleaved across targets.

    python bench/peers.py            # about 2-3 minutes on 2 cores
    python bench/peers.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import _harness as h
import requests

BENCH = Path(__file__).resolve().parent
BASELINE = "bare-flask"
NODE_PACKAGE = h.REPO / "tests/interop/node_op/node_modules/oidc-provider/lib/index.js"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per run")
    parser.add_argument("--reps", type=int, default=4, help="repetitions of every run")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--server-threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--server",
        choices=("gthread", "granian", "sync"),
        default="gthread",
        help="WSGI server for the Python targets",
    )
    parser.add_argument("--new-connections", action="store_true", help="also without keep-alive")
    parser.add_argument("--no-node", action="store_true", help="skip node-oidc-provider")
    parser.add_argument("--run-seconds", type=float, default=2.0, help="cap on one run")
    parser.add_argument("--budget", type=float, default=170.0, help="stop measuring after")
    parser.add_argument("--quick", action="store_true", help="300 requests, 1 repetition")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.reps = 300, 1

    h.install_sigterm_as_interrupt()
    h.watchdog(args.budget + 40)
    started = time.monotonic()
    try:
        with h.temp_dir("porta-bench-peers-") as workdir, contextlib.ExitStack() as stack:
            targets, pids, credentials = _start_all(args, workdir, stack)
            cells = _measure(args, targets, pids, credentials, started)
            stack.close()
            print("servers stopped", flush=True)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    _report(args, targets, cells)
    print(f"\ntotal {time.monotonic() - started:.0f}s")
    return 0


def _start_all(args, workdir: Path, stack: contextlib.ExitStack):
    """Start every target; returns {name: base_url} and the shared client credentials."""
    ports = {name: h.free_port() for name in (BASELINE, "authlib", "porta", "node-oidc")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    discovery_path = "/.well-known/openid-configuration"

    setup = h.porta_setup(workdir, url["porta"])
    command = h.wsgi_command(
        args.server, ports["porta"], args.workers, args.server_threads, "idp.wsgi:app", workdir
    )
    pids = {}
    pids["porta"] = stack.enter_context(
        h.server(
            "porta",
            command,
            env=setup.env,
            cwd=workdir,
            log_dir=workdir,
            ready_url=url["porta"] + discovery_path,
        )
    ).pid
    print(f"started porta      ({args.server}) on {url['porta']}", flush=True)

    # The floor serves Porta's own documents; every target knows the same client.
    peer_dir = workdir / "peers"
    peer_dir.mkdir()
    (peer_dir / "discovery.json").write_text(requests.get(url["porta"] + discovery_path).text)
    (peer_dir / "jwks.json").write_text(requests.get(url["porta"] + "/jwks.json").text)
    client = {"client_id": setup.client_id, "client_secret": setup.client_secret}
    (peer_dir / "client.json").write_text(json.dumps(client))
    h.subprocess.run([h.PYTHON, str(BENCH / "peer_apps.py"), "--init", str(peer_dir)], check=True)

    for name, peer in ((BASELINE, "bare"), ("authlib", "authlib")):
        command = h.wsgi_command(
            args.server, ports[name], args.workers, args.server_threads, "peer_apps:app", workdir
        )
        env = {
            "BENCH_PEER": peer,
            "BENCH_PEER_DIR": str(peer_dir),
            "BENCH_ISSUER": url[name],
            "PYTHONPATH": str(BENCH),
        }
        pids[name] = stack.enter_context(
            h.server(
                name,
                command,
                env=env,
                cwd=workdir,
                log_dir=workdir,
                ready_url=url[name] + discovery_path,
            )
        ).pid
        print(f"started {name:10} ({args.server}) on {url[name]}", flush=True)

    targets = {BASELINE: url[BASELINE], "authlib": url["authlib"], "porta": url["porta"]}
    reason = _node_unavailable(args)
    if reason:
        print(f"skipping node-oidc-provider: {reason}", flush=True)
    else:
        env = {
            "BENCH_PORT": str(ports["node-oidc"]),
            "BENCH_WORKERS": str(args.workers),
            "BENCH_CLIENT_ID": setup.client_id,
            "BENCH_CLIENT_SECRET": setup.client_secret,
            "BENCH_OIDC_PROVIDER": str(NODE_PACKAGE),
            "NODE_ENV": "production",
        }
        pids["node-oidc"] = stack.enter_context(
            h.server(
                "node-oidc",
                ["node", str(BENCH / "node_peer.mjs")],
                env=env,
                cwd=BENCH,
                log_dir=workdir,
                ready_url=url["node-oidc"] + discovery_path,
            )
        ).pid
        targets["node-oidc"] = url["node-oidc"]
        print(
            f"started node-oidc  (node:cluster x{args.workers}) on {url['node-oidc']}", flush=True
        )
    return targets, pids, client


def _node_unavailable(args) -> str | None:
    if args.no_node:
        return "--no-node given"
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not NODE_PACKAGE.exists():
        # tests/interop/node_op owns the install; ask its launcher (read-only use).
        sys.path.insert(0, str(h.REPO))
        try:
            from tests.interop.node_op.launcher import ensure_installed

            ensure_installed()
        except Exception as exc:  # any failure means: no node peer in this run
            return f"oidc-provider could not be installed by tests/interop/node_op: {exc}"
        finally:
            sys.path.remove(str(h.REPO))
    return None if NODE_PACKAGE.exists() else f"{NODE_PACKAGE} is missing"


def _calls(targets, client) -> dict[str, list[h.Call]]:
    """The same three calls for every target; only the JWKS path differs (from discovery)."""
    calls = {}
    for name, base in targets.items():
        jwks_uri = requests.get(base + "/.well-known/openid-configuration").json()["jwks_uri"]
        calls[name] = [
            h.Call("discovery", "GET", "/.well-known/openid-configuration"),
            h.Call("jwks", "GET", urlsplit(jwks_uri).path),
            h.Call(
                "token",
                "POST",
                "/token",
                data={"grant_type": "client_credentials", "scope": "bench"},
                auth=(client["client_id"], client["client_secret"]),
            ),
        ]
    return calls


def _measure(args, targets, pids, client, started):
    calls = _calls(targets, client)
    for name, base in targets.items():
        h.warm_up(base, calls[name])
    modes = (True, False) if args.new_connections else (True,)
    scenarios = [(call, keepalive) for call in calls[BASELINE] for keepalive in modes]
    cells: dict[tuple[str, str, bool], h.Cell] = defaultdict(h.Cell)
    plan = list(h.interleaved(list(targets), scenarios, args.reps))
    for number, (rep, template, keepalive, name) in enumerate(plan, 1):
        if time.monotonic() - started > args.budget:
            print(f"budget of {args.budget:.0f}s reached: {len(plan) - number + 1} runs skipped")
            break
        call = next(c for c in calls[name] if c.name == template.name)
        result = h.run_load(
            targets[name],
            call,
            total=args.requests,
            threads=args.threads,
            keepalive=keepalive,
            max_seconds=args.run_seconds,
            server_pgid=pids[name],
        )
        cells[(name, call.name, keepalive)].runs.append(result)
        mode = "keep-alive" if keepalive else "new-conn"
        print(
            f"[{number:3}/{len(plan)}] rep {rep + 1} {call.name:9} {mode:10} {name:10} "
            f"{result.rps:7.0f} req/s  p50 {h.percentile(result.latencies_ms, 50):6.1f} ms  "
            f"cpu {result.cpu_ms_per_request:5.2f} ms/req  conns {result.connections:5}  "
            f"errors {result.errors}",
            flush=True,
        )
    return cells


def _report(args, targets, cells) -> None:
    print(
        f"\nRatios against bare Flask measured in this run (Python targets under {args.server}, "
        f"{args.workers} workers x {args.server_threads} threads; node-oidc: node:cluster x "
        f"{args.workers}; {args.threads} client threads; {args.requests} requests x "
        f"{args.reps} reps).\nreq/s: higher is better (1.00x = as fast as the floor); "
        "p50/p99 latency and server CPU per request: lower is better.\n"
    )
    rows = []
    for keepalive in (True, False):
        mode = "keep-alive session" if keepalive else "new connection/request"
        for name in ("discovery", "jwks", "token"):
            base = cells.get((BASELINE, name, keepalive))
            if base is None or not base.runs:
                continue
            for target in targets:
                cell = cells.get((target, name, keepalive))
                if cell is None or not cell.runs:
                    continue
                rows.append(
                    [
                        mode,
                        name,
                        target,
                        h.rps_ratio(cell, base),
                        h.ratio(cell.latency(50), base.latency(50)),
                        h.ratio(cell.latency(99), base.latency(99)),
                        h.ratio(cell.cpu_ms_per_request, base.cpu_ms_per_request),
                        f"{cell.rps:.0f}",
                        f"{cell.cpu_ms_per_request:.2f}",
                        f"{cell.latency(50):.1f}/{cell.latency(99):.1f}",
                        str(cell.errors),
                    ]
                )
    print(
        h.format_table(
            [
                "client",
                "endpoint",
                "target",
                "req/s (min-max)",
                "p50",
                "p99",
                "CPU/req",
                "abs req/s",
                "abs CPU ms/req",
                "abs p50/p99 ms",
                "errors",
            ],
            rows,
        )
    )
    porta = [cells.get(("porta", n, True)) for n in ("discovery", "jwks", "token")]
    authlib = [cells.get(("authlib", n, True)) for n in ("discovery", "jwks", "token")]
    if all(c and c.runs for c in porta + authlib):
        ratios = ", ".join(
            f"{n} {p.rps / a.rps:.2f}x"
            for n, p, a in zip(("discovery", "jwks", "token"), porta, authlib, strict=True)
        )
        cpu = ", ".join(
            f"{n} {p.cpu_ms_per_request / a.cpu_ms_per_request:.2f}x"
            for n, p, a in zip(("discovery", "jwks", "token"), porta, authlib, strict=True)
        )
        print(f"\nPorta relative to the Authlib provider: req/s {ratios}; server CPU/req {cpu}")


if __name__ == "__main__":
    sys.exit(main())
