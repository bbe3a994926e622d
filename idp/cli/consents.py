"""``porta consents`` and ``porta events``: the consent ledger and the event outbox."""

from __future__ import annotations

import click

from idp.cli.runtime import Runtime, pass_runtime


@click.group()
def consents() -> None:
    """The consent ledger."""


@consents.command("verify-ledger")
@pass_runtime
def consents_verify_ledger(runtime: Runtime) -> None:
    """Check every person's hash chain; report the first broken link of each (exit 1 if any)."""
    from idp.consent.ledger import verify_ledgers

    store = runtime.store()
    try:
        checked, broken = verify_ledgers(store)
    finally:
        store.close()
    for link in broken:
        click.echo(
            f"BROKEN ledger of user {link.user_id}: entry {link.sequence} (record {link.record_id}): {link.reason}",
            err=True,
        )
    if broken:
        raise SystemExit(1)
    click.echo(f"ledger verified: {checked} entries, every chain intact")


@consents.command("expire")
@pass_runtime
def consents_expire(runtime: Runtime) -> None:
    """Expire consents whose time has come (run it from cron; serve also does it)."""
    from idp.consent.decisions import expire_due

    with runtime.unit_of_work() as store:
        count = expire_due(runtime.context(store))
    click.echo(f"expired {count} consent(s)")


@click.group()
def events() -> None:
    """Notifications to relying parties (consent events, back-channel logout)."""


@events.command("deliver")
@pass_runtime
def events_deliver(runtime: Runtime) -> None:
    """Push every due event, and send every due mail, once (retries follow the outbox backoff)."""
    from idp.base.outbound import OutboundClient
    from idp.consent.events import deliver_due
    from idp.profile import mail

    runtime.store().close()
    delivered = deliver_due(lambda: runtime.store(), OutboundClient(runtime.settings))
    click.echo(f"delivered {delivered} event(s)")
    settings = runtime.settings
    if settings.smtp_url:
        sent = mail.deliver_due(lambda: runtime.store(), settings.smtp_url, settings.mail_from)
        click.echo(f"sent {sent} message(s)")
