"""Two browser sessions of one person change the same consent at once; the ledger never forks
(DESIGN §4: lock, then read), nobody gets a 5xx, and every chain verifies — on every backend.

Session A keeps consenting to the site, session B keeps withdrawing it, on two threads,
through the real HTTP views (Flask test clients). The loops are bounded in count.
"""

from __future__ import annotations

import threading
from collections import Counter

from idp.consent.ledger import verify_ledgers
from tests.conftest import authorize, consent, csrf_from, login, store_of

ROUNDS = 12


def _sign_in(app):
    http = app.test_client()
    page = http.get("/login").get_data(as_text=True)
    response = http.post(
        "/login",
        data={
            "csrf_token": csrf_from(page),
            "email": "alice@example.org",
            "password": "correct horse battery staple",
        },
    )
    assert response.status_code == 303
    return http


def test_concurrent_consent_and_withdrawal_never_fork_the_ledger(app, user, register):
    site = register(client_name="Alder Books")
    consenting, withdrawing = _sign_in(app), _sign_in(app)
    statuses: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    consenting_done = threading.Event()
    withdrawals: list[int] = []

    def keep_consenting() -> None:
        start.wait(timeout=30)
        try:
            _consent_rounds()
        finally:
            consenting_done.set()

    def _consent_rounds() -> None:
        for _ in range(ROUNDS):
            response = authorize(consenting, site, scope="openid profile email", prompt="consent")
            if response.status_code == 303 and response.headers["Location"].startswith("/login"):
                response = login(consenting, response)
            statuses.append(response.status_code)
            if response.status_code == 303:
                statuses.append(consent(consenting, response).status_code)

    def keep_withdrawing() -> None:
        start.wait(timeout=30)
        for _ in range(50 * ROUNDS):  # bounded: until the other session is done
            if consenting_done.is_set():
                break
            page = withdrawing.get(f"/account/relationships/{site.client_id}")
            statuses.append(page.status_code)
            html = page.get_data(as_text=True)
            if page.status_code != 200 or "/withdraw" not in html:
                continue
            response = withdrawing.post(
                f"/account/relationships/{site.client_id}/withdraw",
                data={"csrf_token": csrf_from(html)},
            )
            statuses.append(response.status_code)
            withdrawals.append(response.status_code)

    def guarded(work):
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported in the test's thread
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(w)) for w in (keep_consenting, keep_withdrawing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert [s for s in statuses if s >= 500] == [], Counter(statuses)

    store = store_of(app)
    try:
        checked, broken = verify_ledgers(store)
        assert withdrawals, "the two sessions never overlapped"
        assert checked >= ROUNDS + len(withdrawals) // 2 and broken == []
        records = store.consent_records(user.id)
        replaced = Counter(r.document["replaces"] for r in records if "replaces" in r.document)
        assert [rid for rid, times in replaced.items() if times > 1] == []  # no fork
        assert [r.sequence for r in records] == list(range(len(records)))
    finally:
        store.close()
