"""Messages to people: composed from templates, queued in the mail outbox in the same unit of
work as what they announce, and sent afterwards over SMTP with retries (idp.base.mail).

The templates are ``idp/templates/mail/<name>.txt`` (required) and ``<name>.html``
(optional); the first line of the text template is ``Subject: …``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from idp.base.clock import now
from idp.base.mail import MailError, build_message, parse_smtp_url, send
from idp.storage import Store

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
MAX_ATTEMPTS = 6
BASE_DELAY_SECONDS = 30


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def compose(name: str, **values: Any) -> tuple[str, str, str | None]:
    """(subject, text body, html body or None) of the template ``name``."""
    environment = _environment()
    text = environment.get_template(f"{name}.txt").render(**values)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"mail template {name}.txt must start with a Subject: line")
    html = None
    if (TEMPLATES / f"{name}.html").exists():
        html = environment.get_template(f"{name}.html").render(**values)
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n"), html


def queue(store: Store, recipient: str, name: str, **values: Any) -> None:
    """Queue the message ``name`` for ``recipient`` (sent once the caller commits)."""
    subject, text, html = compose(name, **values)
    store.enqueue_mail(
        recipient=recipient, subject=subject, text_body=text, html_body=html, purpose=name
    )


def deliver_due(
    open_store: Callable[[], Store], smtp_url: str, mail_from: str, *, limit: int = 20
) -> int:
    """Send every due message once; returns how many the server accepted.

    Messages are claimed atomically before sending (the outbox's own unit of
    work), so two workers never send the same message; a failure is retried with
    exponential backoff, and only its status class is stored.
    """
    server = parse_smtp_url(smtp_url)
    store = open_store()
    sent = 0
    try:
        for row in store.claim_mail(limit):
            message = build_message(
                mail_from, row.recipient, row.subject, row.text_body, row.html_body
            )
            try:
                send(server, message)
            except MailError as error:
                retry_at = None
                if row.attempts < MAX_ATTEMPTS:
                    delay = BASE_DELAY_SECONDS * 2 ** (row.attempts - 1)
                    retry_at = now() + timedelta(seconds=delay)
                store.finish_mail(row, sent=False, error=str(error), retry_at=retry_at)
                continue
            store.finish_mail(row, sent=True, error=None, retry_at=None)
            sent += 1
    finally:
        store.close()
    return sent
