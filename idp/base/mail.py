"""Sending mail over SMTP (RFC 5321): STARTTLS (RFC 3207) or implicit TLS (RFC 8314).

``PORTA_SMTP_URL`` names the server:

- ``smtps://user:password@host:465`` — TLS from the first byte (RFC 8314 §3.3);
- ``smtp+starttls://user:password@host:587`` — submission upgraded with STARTTLS;
- ``smtp://host:25`` — no TLS, for a relay on the same machine or a test server.

Failures are reported as a short status class (``connection failed``, ``timeout``,
``SMTP 4xx``, ``SMTP 5xx``, ``TLS failed``), never as the server's text.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}
DEFAULT_PORTS = {"plain": 25, "starttls": 587, "tls": 465}


class MailError(RuntimeError):
    """A message could not be handed to the SMTP server; ``str()`` is a status class."""


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to submit mail."""

    host: str
    port: int
    security: str  # plain, starttls, tls
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    """An :class:`SmtpServer` from ``PORTA_SMTP_URL``; ``ValueError`` says what is wrong."""
    parts = urlsplit(url)
    security = SCHEMES.get(parts.scheme)
    if security is None:
        raise ValueError(
            f"PORTA_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, got {parts.scheme!r}"
        )
    if not parts.hostname:
        raise ValueError("PORTA_SMTP_URL names no host")
    try:
        port = parts.port or DEFAULT_PORTS[security]
    except ValueError as exc:
        raise ValueError("PORTA_SMTP_URL has an invalid port") from exc
    return SmtpServer(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def build_message(
    mail_from: str, recipient: str, subject: str, text: str, html: str | None
) -> EmailMessage:
    """A MIME message with a plain-text body and, if given, an HTML alternative (RFC 2046)."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def send(server: SmtpServer, message: EmailMessage, *, timeout: float = 10.0) -> None:
    """Submit one message; raises :class:`MailError` with a status class on any failure."""
    context = ssl.create_default_context()
    try:
        if server.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=timeout)
        with client:
            if server.security == "starttls":
                client.starttls(context=context)
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(message)
    except TimeoutError as exc:
        raise MailError("timeout") from exc
    except ssl.SSLError as exc:
        raise MailError("TLS failed") from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"SMTP {str(exc.smtp_code)[:1]}xx") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError("SMTP 5xx") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError("connection failed") from exc
