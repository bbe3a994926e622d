"""The storage contract: every operation the domain relies on, on every backend.

In the spirit of Ory Hydra's shared store tests, each test drives the
:class:`idp.storage.Store` directly — no HTTP — and runs once on SQLite and, when
``PORTA_TEST_DATABASE_URL`` is set, once on PostgreSQL. Races are staged with two
Stores on two connections, ordered by events, never by sleeps.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import consent_spec
from idp.base.clock import later, now
from idp.storage import Store
from idp.storage.models import Base, ConsentRecord

OpenStore = Callable[[], Store]


def _person_and_client(store: Store) -> tuple[str, str]:
    user = store.create_user(f"{uuid.uuid4().hex[:8]}@example.org", "hash", {})
    client = store.create_client(
        uuid.uuid4().hex, {"redirect_uris": ["https://rp.example/cb"]}, client_secret_hash=None
    )
    return user.id, client.client_id


def _grant(store: Store, user_id: str, client_id: str) -> str:
    grant = store.create_grant(
        user_id=user_id, client_id=client_id, scope="openid", expires_at=later(3600)
    )
    return grant.id


def _race(first: Callable[[], object], second: Callable[[], object]) -> tuple[object, object]:
    """Run ``first`` and ``second`` on two threads at once; return both results."""
    results: dict[str, object] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(name: str, work: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[name] = work()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("first", first)),
        threading.Thread(target=run, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results["first"], results["second"]


# -- single use ------------------------------------------------------------------------------


def test_a_code_is_redeemed_once_by_two_concurrent_sessions(open_store: OpenStore):
    """RFC 6749 §4.1.2: a code is used once, however many requests race for it."""
    setup = open_store()
    user_id, client_id = _person_and_client(setup)
    grant_id = _grant(setup, user_id, client_id)
    setup.create_code(
        code_hash="c" * 64,
        grant_id=grant_id,
        client_id=client_id,
        redirect_uri="https://rp.example/cb",
        expires_at=later(60),
    )
    setup.commit()
    a, b = open_store(), open_store()

    def redeem(store: Store) -> bool:
        won = store.redeem_code("c" * 64)
        store.commit()
        return won

    results = _race(lambda: redeem(a), lambda: redeem(b))
    assert sorted(results) == [False, True]


def test_a_refresh_token_rotates_once_by_two_concurrent_sessions(open_store: OpenStore):
    """RFC 9700 §4.14.2: a refresh token is used once; the loser sees it as reuse."""
    setup = open_store()
    user_id, client_id = _person_and_client(setup)
    grant_id = _grant(setup, user_id, client_id)
    setup.create_refresh_token(
        token_hash="r" * 64, grant_id=grant_id, scope="openid", expires_at=later(3600)
    )
    setup.commit()
    a, b = open_store(), open_store()

    def use(store: Store) -> bool:
        won = store.use_refresh_token("r" * 64)
        store.commit()
        return won

    assert sorted(_race(lambda: use(a), lambda: use(b))) == [False, True]
    assert open_store().get_refresh_token("r" * 64).used_at is not None


def test_an_interaction_completes_once(open_store: OpenStore):
    store = open_store()
    _user_id, client_id = _person_and_client(store)
    row = store.create_interaction(client_id, {"x": 1}, later(60))
    store.commit()
    assert store.complete_interaction(row.id) is True
    assert store.complete_interaction(row.id) is False
    store.commit()
    assert open_store().get_interaction(row.id) is None


def test_a_client_assertion_jti_is_accepted_once(open_store: OpenStore):
    """RFC 7523 §3: the same jti from the same client is a replay."""

    def remember(client_id: str) -> bool:
        store = open_store()
        with store.unit_of_work():
            return store.remember_assertion(client_id, "jti-1", later(60))

    assert remember("c1") is True
    assert remember("c1") is False
    assert remember("c2") is True


def test_revoking_a_grant_revokes_its_access_tokens(open_store: OpenStore):
    store = open_store()
    user_id, client_id = _person_and_client(store)
    grant_id = _grant(store, user_id, client_id)
    store.record_access_token("jti-a", client_id, grant_id, later(600))
    store.commit()
    store.revoke_grant(grant_id, "test")
    store.commit()
    other = open_store()
    assert other.get_grant(grant_id).revoked_at is not None
    assert other.get_access_token("jti-a").revoked_at is not None
    assert other.live_grants(user_id) == []


# -- the ledger ------------------------------------------------------------------------------


def _append(store: Store, user_id: str, client_id: str, locked: threading.Event | None = None):
    """One chained append the way the consent layer does it: lock, then read, then write."""
    store.lock_ledger(user_id)
    if locked is not None:
        locked.set()
    head = store.ledger_head(user_id)
    sequence = 0 if head is None else head.sequence + 1
    previous = consent_spec.GENESIS_HASH if head is None else head.entry_hash
    record_id = str(uuid.uuid4())
    document = {"record_id": record_id, "sequence": sequence, "previous_hash": previous}
    store.add_consent_record(
        ConsentRecord(
            record_id=record_id,
            user_id=user_id,
            client_id=client_id,
            sequence=sequence,
            previous_hash=previous,
            entry_hash=consent_spec.chain_hash(document, previous),
            state="given",
            document=document,
            receipt="r",
            recorded_at=now(),
        )
    )
    return sequence


def test_two_concurrent_appends_to_one_ledger_never_fork(open_store: OpenStore):
    """DESIGN §4: lock, then read. The second writer waits for the first and extends *its*
    record, so the chain stays one line (no two records name the same predecessor)."""
    setup = open_store()
    user_id, client_id = _person_and_client(setup)
    setup.commit()
    first, second = open_store(), open_store()
    first_locked = threading.Event()
    release_first = threading.Event()

    def run_first() -> int:
        sequence = _append(first, user_id, client_id, locked=first_locked)
        release_first.wait(timeout=30)
        first.commit()
        return sequence

    def run_second() -> int:
        first_locked.wait(timeout=30)
        # The first writer holds the lock and has not committed: this append must wait.
        waiter = threading.Thread(target=lambda: release_first.set())
        waiter.start()
        sequence = _append(second, user_id, client_id)
        second.commit()
        waiter.join()
        return sequence

    assert _race(run_first, run_second) == (0, 1)
    records = open_store().consent_records(user_id)
    assert [r.sequence for r in records] == [0, 1]
    assert records[1].previous_hash == records[0].entry_hash
    assert len({r.previous_hash for r in records}) == 2


def test_ledger_reads_follow_the_chain(open_store: OpenStore):
    store = open_store()
    user_id, client_id = _person_and_client(store)
    _other_user, other_client = _person_and_client(store)
    for client in (client_id, other_client, client_id):
        _append(store, user_id, client)
    store.commit()
    reader = open_store()
    assert [r.sequence for r in reader.consent_records(user_id, client_id)] == [0, 2]
    assert reader.latest_consent_record(user_id, client_id).sequence == 2
    assert reader.ledger_head(user_id).sequence == 2
    assert reader.relationship_client_ids(user_id) == [client_id, other_client]
    assert [r.user_id for r in reader.latest_records_of_client(client_id)] == [user_id]


# -- the outbox ------------------------------------------------------------------------------


def test_two_concurrent_claimers_never_claim_the_same_delivery(open_store: OpenStore):
    """An event is pushed once per claim (RFC 8935): concurrent claimers take disjoint rows."""
    setup = open_store()
    user_id, client_id = _person_and_client(setup)
    queued = {
        setup.enqueue(
            client_id=client_id,
            user_id=user_id,
            endpoint="https://rp.example/events",
            token=f"set-{n}",
            event_type="e",
        ).id
        for n in range(30)
    }
    setup.commit()
    a, b = open_store(), open_store()
    claimed_a, claimed_b = _race(lambda: a.claim_due(30), lambda: b.claim_due(30))
    ids_a = {row.id for row in claimed_a}
    ids_b = {row.id for row in claimed_b}
    assert ids_a.isdisjoint(ids_b)
    assert ids_a | ids_b == queued
    assert {row.attempts for row in [*claimed_a, *claimed_b]} == {1}
    # Leased rows are not due again until their lease runs out or an outcome is recorded.
    assert open_store().claim_due(30) == []


def test_a_delivery_outcome_is_recorded_and_retried_when_due(open_store: OpenStore):
    store = open_store()
    user_id, client_id = _person_and_client(store)
    store.enqueue(
        client_id=client_id,
        user_id=user_id,
        endpoint="https://rp.example/e",
        token="t",
        event_type="e",
    )
    store.commit()
    (row,) = store.claim_due(5)
    store.finish_delivery(
        row, accepted=False, error="HTTP 5xx", retry_at=now() - timedelta(seconds=1)
    )
    (again,) = open_store().claim_due(5)
    assert again.id == row.id and again.attempts == 2
    store2 = open_store()
    (mine,) = store2.deliveries(user_id, client_id)
    store2.finish_delivery(mine, accepted=True, error=None, retry_at=None)
    (final,) = open_store().deliveries(user_id, client_id)
    assert (final.status, final.last_error) == ("delivered", None)
    assert open_store().claim_due(5) == []


def test_a_lapsed_lease_is_claimed_again(open_store: OpenStore):
    """At-least-once across crashes: a claimer that died leaves the row to the next one."""
    store = open_store()
    user_id, client_id = _person_and_client(store)
    store.enqueue(
        client_id=client_id,
        user_id=user_id,
        endpoint="https://rp.example/e",
        token="t",
        event_type="e",
    )
    store.commit()
    (row,) = store.claim_due(5, lease_seconds=-1)  # a lease already over: the claimer "died"
    (again,) = open_store().claim_due(5)
    assert again.id == row.id and again.attempts == 2


# -- the schema ------------------------------------------------------------------------------


def test_migrations_and_models_describe_the_same_schema(open_store: OpenStore):
    """Alembic's autogenerate comparison finds nothing to migrate: no drift between
    ``idp/storage/migrations`` and ``idp/storage/models.py``."""
    store = open_store()
    connection = store.session.connection()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, Base.metadata) == []
