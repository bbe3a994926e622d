"""Production serving: a WSGI server that keeps HTTP/1.1 connections alive.

Relying parties call the token, UserInfo and JWKS endpoints over and over;
a server that closes every connection (gunicorn's sync workers) makes each
call pay a new TCP handshake. Two servers keep connections alive and are
compared in ``bench/keepalive.py``: gunicorn with gthread workers and granian
(Rust, WSGI interface). ``PORTA_SERVER`` picks one. The default is granian:
in bench/keepalive.py it served 1.25-1.7x the sync baseline's requests per
second against gthread's 1.0-1.6x, at 0.65-0.73x the baseline's server CPU per
request against gthread's 0.89-1.08x (bench/README.md has the runs).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "granian"

# Access logs name the path, never the query string or the Referer: queries carry
# id_token_hint, login_hint, codes and states (OIDC Core §3.1.2.1, RP-Initiated Logout §2),
# and RFC 9700 §4.2.4 warns against leaking them through logs.
# gunicorn: %(U)s is the path without the query (its default %(r)s is the whole request line).
GUNICORN_ACCESS_LOG_FORMAT = '%(h)s - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# granian: %(path)s is the path alone; %(query_string)s is left out.
GRANIAN_ACCESS_LOG_FORMAT = (
    '[%(time)s] %(addr)s - "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3f'
)


def gunicorn_settings(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn's configuration for Porta (gthread workers keep connections alive)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": 75,
        "accesslog": "-",
        "access_log_format": GUNICORN_ACCESS_LOG_FORMAT,
        "graceful_timeout": 10,
    }


def run(*, host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    """Serve ``idp.wsgi:app`` until interrupted."""
    if dev:
        from idp.app import create_app
        from idp.base.audit import log_to_stderr

        log_to_stderr()
        create_app().run(host=host, port=port, debug=True, use_reloader=True)
        return
    server = os.environ.get("PORTA_SERVER", DEFAULT_SERVER)
    if server not in {"granian", "gunicorn"}:
        raise SystemExit(f"PORTA_SERVER must be gunicorn or granian, not {server!r}")
    _metrics_directory()
    if server == "granian":
        _run_granian(host, port, workers, threads)
    else:
        _run_gunicorn(host, port, workers, threads)


def _metrics_directory() -> None:
    """Give the workers one PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode),
    so /metrics on any worker sums every worker's counters. It is set before any worker
    starts, as prometheus-client requires; files a previous run left are removed."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="porta-metrics-")


def _run_gunicorn(host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_settings(host, port, workers, threads).items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from idp.wsgi import app

            return app

    _App().run()


def _run_granian(host: str, port: int, workers: int, threads: int) -> None:
    from granian import Granian

    Granian(
        "idp.wsgi:app",
        address=host,
        port=port,
        interface="wsgi",
        workers=workers,
        blocking_threads=threads,
        log_access=True,
        log_access_format=GRANIAN_ACCESS_LOG_FORMAT,
        respawn_failed_workers=True,
    ).serve()
