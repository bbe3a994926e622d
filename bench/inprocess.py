"""Where Porta's CPU goes, without any server or socket: the Flask test client, CPU time.

Calls discovery, JWKS and the token endpoint (client_credentials) of Porta, of the bare
Flask floor and of the Authlib provider (``peer_apps.py``) in this process, and prints CPU
milliseconds per request (best of 5 batches) as ratios against bare Flask, plus Porta with
Flask-Limiter's per-request hooks taken out and the SQL a token request issues. ``--profile``
adds a cProfile of Porta's token endpoint.

    python bench/inprocess.py             # ~20-40 s
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import functools
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Callable

import _harness as h

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "bench"}


def cpu_ms_per_call(call: Callable[[], object], count: int) -> float:
    """Best of 5 batches of ``count`` calls, CPU time of this process per call."""
    for _ in range(30):
        call()
    batches = []
    for _ in range(5):
        began = time.process_time()
        for _ in range(count):
            call()
        batches.append((time.process_time() - began) / count * 1000.0)
    return min(batches)


def _belongs_to(hook: object, owner: object) -> bool:
    """A bound method of ``owner``, or a ``functools.partial`` over it."""
    if getattr(hook, "__self__", None) is owner:
        return True
    return isinstance(hook, functools.partial) and any(a is owner for a in hook.args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="calls per batch")
    parser.add_argument("--profile", action="store_true", help="cProfile Porta's token endpoint")
    args = parser.parse_args()
    h.install_sigterm_as_interrupt()
    h.watchdog(180)

    with h.temp_dir("porta-bench-inprocess-") as workdir:
        setup = h.porta_setup(workdir, "http://127.0.0.1:9")
        os.environ.update({k: v for k, v in setup.env.items() if k.startswith("PORTA_")})
        from sqlalchemy import event

        from idp.wsgi import app as porta_app  # reads PORTA_* at import

        credentials = {"client_id": setup.client_id, "client_secret": setup.client_secret}
        auth = (
            "Basic "
            + base64.b64encode(f"{setup.client_id}:{setup.client_secret}".encode()).decode()
        )
        porta = porta_app.test_client()

        peer_dir = workdir / "peers"
        peer_dir.mkdir()
        (peer_dir / "client.json").write_text(json.dumps(credentials))
        porta_discovery = porta.get("/.well-known/openid-configuration")
        (peer_dir / "discovery.json").write_text(porta_discovery.get_data(as_text=True))
        (peer_dir / "jwks.json").write_text(porta.get("/jwks.json").get_data(as_text=True))
        import peer_apps

        peer_apps.init_authlib(peer_dir)
        peer_apps.PEER_DIR = peer_dir
        os.environ["BENCH_ISSUER"] = "http://127.0.0.1:9"
        clients = {
            "bare-flask": peer_apps.create_bare_app().test_client(),
            "authlib": peer_apps.create_authlib_app().test_client(),
            "porta": porta,
        }

        def calls(client, name: str) -> Callable[[], object]:
            def discovery():
                assert client.get("/.well-known/openid-configuration").status_code == 200

            def jwks():
                assert client.get("/jwks.json").status_code == 200

            def token():
                response = client.post("/token", data=TOKEN_FORM, headers={"Authorization": auth})
                assert response.status_code == 200, response.data

            return {"discovery": discovery, "jwks": jwks, "token": token}[name]

        limiter = porta_app.extensions["porta"]["limiter"]
        hooks = (porta_app.before_request_funcs, porta_app.after_request_funcs)

        def limiter_hooks(present: bool) -> None:
            """Take Flask-Limiter's per-request hooks out of (or back into) the app."""
            for registry in hooks:
                funcs = registry.setdefault(None, [])
                if present:
                    funcs[:] = saved[id(registry)]
                else:
                    saved[id(registry)] = list(funcs)
                    funcs[:] = [f for f in funcs if not _belongs_to(f, limiter)]

        saved: dict[int, list] = {}
        rows, results = [], {}
        for name in ("discovery", "jwks", "token"):
            for target, client in clients.items():
                results[(target, name)] = cpu_ms_per_call(calls(client, name), args.count)
            limiter_hooks(present=False)
            results[("porta, no limiter", name)] = cpu_ms_per_call(calls(porta, name), args.count)
            limiter_hooks(present=True)
            base = results[("bare-flask", name)]
            for target in (*clients, "porta, no limiter"):
                value = results[(target, name)]
                rows.append([name, target, h.ratio(value, base), f"{value:.3f}"])
        print("CPU per request in-process, against bare Flask (lower is better):\n")
        print(h.format_table(["endpoint", "target", "CPU/req", "abs CPU ms/req"], rows))
        for name in ("discovery", "jwks", "token"):
            print(
                f"porta/authlib {name}: "
                f"{results[('porta', name)] / results[('authlib', name)]:.2f}x CPU"
            )

        statements: list[str] = []
        engine = porta_app.extensions["porta"]["engine"]

        def record(conn, cursor, statement, *rest) -> None:
            statements.append(" ".join(statement.split()[:4]))

        event.listen(engine, "before_cursor_execute", record)
        calls(porta, "token")()
        event.remove(engine, "before_cursor_execute", record)
        print(f"\nSQL issued by one Porta token request: {statements}")

        if args.profile:
            profile = cProfile.Profile()
            token = calls(porta, "token")
            profile.enable()
            for _ in range(args.count):
                token()
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
