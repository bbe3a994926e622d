"""Cleanup (issue 16 item 3): finished rows go in bounded, index-backed batches; the consent
ledger and everything still in use stays. Run on every backend, like the rest of the storage
contract."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import func, inspect, select

from idp.base.clock import later, now
from idp.storage import Store
from idp.storage.cleanup import CLEANED_TABLES
from idp.storage.models import (
    AccessToken,
    AuthorizationCode,
    ConsentRecord,
    Interaction,
    MailOutbox,
    PendingImport,
    RefreshToken,
    UsedAssertion,
)
from tests.storage.test_store_contract import OpenStore, _append, _grant, _person_and_client

DAY = 24 * 3600
LONG_AGO = now() - timedelta(days=3)


def _count(store: Store, model) -> int:
    return store.session.scalar(select(func.count()).select_from(model))


def _fill(store: Store, copies: int) -> tuple[str, str]:
    """``copies`` finished rows of each kind (three days old) and one live row of each."""
    user_id, client_id = _person_and_client(store)
    grant_id = _grant(store, user_id, client_id)
    _append(store, user_id, client_id)
    store.session.execute(
        ConsentRecord.__table__.update().values(recorded_at=LONG_AGO)
    )  # an old ledger entry: still never deleted
    for index in range(copies + 1):
        old = index < copies
        tag = uuid.uuid4().hex
        store.create_code(
            code_hash=tag,
            grant_id=grant_id,
            client_id=client_id,
            redirect_uri="https://rp.example/cb",
            expires_at=LONG_AGO if old else later(60),
        )
        store.record_access_token(tag, client_id, grant_id, LONG_AGO if old else later(600))
        store.create_refresh_token(
            token_hash=tag, grant_id=grant_id, scope="openid", expires_at=later(DAY)
        )
        interaction = store.create_interaction(client_id, {}, later(1800))
        store.session.add(
            UsedAssertion(client_id=client_id, jti=tag, expires_at=LONG_AGO if old else later(60))
        )
        store.add_pending_import(
            token_hash=tag,
            email="p@example.org",
            export="e",
            password_hash="h",
            expires_at=LONG_AGO if old else later(DAY),
        )
        mail = store.enqueue_mail(
            recipient="p@example.org", subject="s", text_body="t", html_body=None, purpose="x"
        )
        store.flush()
        if old:
            store.session.get(RefreshToken, tag).used_at = LONG_AGO  # rotated long ago
            store.session.get(Interaction, interaction.id).completed_at = LONG_AGO
            mail.status, mail.sent_at = "sent", LONG_AGO
    store.commit()
    return user_id, client_id


MODELS = {
    "authorization_codes": AuthorizationCode,
    "access_tokens": AccessToken,
    "refresh_tokens": RefreshToken,
    "interactions": Interaction,
    "used_assertions": UsedAssertion,
    "pending_imports": PendingImport,
    "mail_outbox": MailOutbox,
}


def test_cleanup_deletes_only_finished_rows_in_bounded_batches(open_store: OpenStore):
    store = open_store()
    _fill(store, copies=5)
    assert set(MODELS) == set(CLEANED_TABLES)
    ledger = _count(store, ConsentRecord)

    first = store.purge_batch(DAY, batch=2)
    assert first == dict.fromkeys(MODELS, 2)  # bounded: two per table, not all five
    rounds = 1
    while max(store.purge_batch(DAY, batch=2).values()) == 2:
        rounds += 1
    assert rounds == 2  # 2 + 2 + 1
    for model in MODELS.values():
        assert _count(store, model) == 1, model  # the live row of each kind stays
    assert _count(store, ConsentRecord) == ledger == 1
    assert store.purge_batch(DAY, batch=2) == dict.fromkeys(MODELS, 0)


def test_the_retention_keeps_recently_finished_rows(open_store: OpenStore):
    """Rows finished three days ago are kept under a week's retention (reuse detection of a
    rotated refresh token, RFC 9700 §4.14.2, lasts as long as the retention)."""
    store = open_store()
    _fill(store, copies=3)
    assert store.purge_batch(7 * DAY, batch=100) == dict.fromkeys(MODELS, 0)
    assert _count(store, RefreshToken) == 4


def test_two_cleaners_at_once_delete_each_row_once(open_store: OpenStore):
    """Several hosts run the pump: concurrent cleaners neither fail nor delete twice."""
    _fill(open_store(), copies=20)
    cleaners = [open_store(), open_store()]
    totals: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def clean(store: Store) -> None:
        try:
            barrier.wait(timeout=30)
            total = 0
            while True:
                counts = store.purge_batch(DAY, batch=3)
                total += sum(counts.values())
                if not any(counts.values()):
                    break
            totals.append(total)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=clean, args=(store,)) for store in cleaners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(totals) == 20 * len(MODELS)
    check = open_store()
    for model in MODELS.values():
        assert _count(check, model) == 1


def test_every_cleanup_condition_is_index_backed(open_store: OpenStore):
    """Each column a cleanup batch selects by has an index of its own (or leads one)."""
    store = open_store()
    inspector = inspect(store.session.connection())
    needed = {
        "authorization_codes": {"expires_at"},
        "access_tokens": {"expires_at"},
        "refresh_tokens": {"expires_at", "used_at"},
        "interactions": {"expires_at", "completed_at"},
        "used_assertions": {"expires_at"},
        "pending_imports": {"expires_at"},
        "mail_outbox": {"sent_at"},
    }
    for table, columns in needed.items():
        leading = {index["column_names"][0] for index in inspector.get_indexes(table)}
        assert columns <= leading, (table, columns - leading)
