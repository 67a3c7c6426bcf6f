"""What a signed-in customer can see and change: only their own data, every change recorded."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from tests.portal.conftest import csrf_of

from loyalist.customers import service as customers
from loyalist.interactions.models import Interaction
from loyalist.ledger import service as ledger
from loyalist.rewards import service as rewards


def test_history_explains_each_change_and_shows_lot_expiry(world, sign_in) -> None:
    client = sign_in("alice@example.com", world.alice)
    page = client.get("/portal/history")
    assert page.status_code == 200
    assert "Earned" in page.text and "welcome gift" in page.text and "+500" in page.text
    assert "Your points and when they expire" in page.text and "never" in page.text


def test_redeem_a_reward_once_even_if_the_form_is_sent_twice(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    page = client.get("/portal/rewards")
    key = __import__("re").search(r'name="key" value="([^"]+)"', page.text).group(1)
    form = {"csrf": csrf_of(page.text), "key": key}
    first = client.post(f"/portal/rewards/{world.reward}/redeem", data=form)
    second = client.post(f"/portal/rewards/{world.reward}/redeem", data=form)
    assert first.status_code == second.status_code == 200
    code = __import__("re").search(r'data-testid="voucher-code">[^<]*?([A-Z0-9-]{6,})\.', first.text).group(1)
    assert code in second.text
    with session_factory() as s:
        assert ledger.get_balance(s, world.alice).available == 300
        assert [v.code for v in rewards.list_vouchers(s, world.alice)] == [code]
    vouchers = client.get("/portal/vouchers")
    assert code in vouchers.text and "Free coffee" in vouchers.text


def test_redeeming_without_enough_points_changes_nothing(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    for i in range(2):
        page = client.get("/portal/rewards")
        client.post(f"/portal/rewards/{world.reward}/redeem", data={"csrf": csrf_of(page.text), "key": f"k{i}"})
    page = client.get("/portal/rewards")
    r = client.post(f"/portal/rewards/{world.reward}/redeem", data={"csrf": csrf_of(page.text), "key": "k3"})
    assert r.status_code == 409 and 'class="error"' in r.text
    with session_factory() as s:
        assert ledger.get_balance(s, world.alice).available == 100
        assert len(rewards.list_vouchers(s, world.alice)) == 2


def test_a_form_without_the_session_csrf_token_is_refused(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    bob = sign_in("bob@example.com", world.bob)
    bobs_token = csrf_of(bob.get("/portal/rewards").text)
    for data in ({}, {"csrf": "x" * 40}, {"csrf": bobs_token}):
        r = client.post(f"/portal/rewards/{world.reward}/redeem", data={**data, "key": "k"})
        assert r.status_code == 403
    r = client.post("/portal/close", data={"csrf": bobs_token})
    assert r.status_code == 403
    with session_factory() as s:
        assert ledger.get_balance(s, world.alice).available == 500
        assert customers.get_customer(s, world.alice).status == "active"


def test_profile_errors_name_the_field_and_change_nothing(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    csrf = csrf_of(client.get("/portal/profile").text)
    r = client.post("/portal/profile", data={"csrf": csrf, "first_name": "Alicia", "phone": "12",
                                              "locale": "en"})
    assert r.status_code == 422
    assert 'id="phone" name="phone"' in r.text and 'aria-describedby="phone-error"' in r.text
    with session_factory() as s:
        assert customers.get_customer(s, world.alice).first_name == "Alice"
    r = client.post("/portal/profile", data={"csrf": csrf, "first_name": "Alicia", "phone": "+45 20 12 34 56",
                                              "locale": "da", "birthday": "1990-02-28"})
    assert r.status_code == 200 and "Gemt." in r.text  # the page answers in the newly chosen language
    with session_factory() as s:
        profile = customers.get_customer(s, world.alice)
        assert (profile.first_name, profile.phone, profile.locale) == ("Alicia", "+4520123456", "da")


def test_address_and_values(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    csrf = csrf_of(client.get("/portal/profile").text)
    bad = client.post("/portal/profile/address", data={"csrf": csrf, "line1": "", "city": "Aarhus", "country": "DK"})
    assert bad.status_code == 422 and 'aria-describedby="line1-error"' in bad.text
    ok = client.post("/portal/profile/address", data={"csrf": csrf, "line1": "Ny Munkegade 1", "city": "Aarhus",
                                                      "postal_code": "8000", "country": "dk"})
    assert ok.status_code == 200
    chosen = ["early_access", "personal_attention", "bogus"]
    client.post("/portal/profile/values", data={"csrf": csrf, "values": chosen})
    with session_factory() as s:
        assert customers.list_addresses(s, world.alice, history=False)[0].city == "Aarhus"
        assert sorted(customers.get_customer(s, world.alice).values) == ["early_access", "personal_attention"]


def test_consent_changes_are_history_with_source_portal(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    csrf = csrf_of(client.get("/portal/preferences").text)
    client.post("/portal/preferences", data={"csrf": csrf, "consent": ["email", "sms"]})
    with session_factory() as s:
        state = {c.channel: (c.granted, c.source) for c in customers.list_consents(s, world.alice)}
    assert state["email"] == (True, "staff")  # unchanged: no new history row
    assert state["sms"] == (True, "portal")
    client.post("/portal/preferences", data={"csrf": csrf, "unsubscribe_all": "1"})
    with session_factory() as s:
        assert not any(customers.has_consent(s, world.alice, ch) for ch in ("email", "sms"))
        history = customers.list_consents(s, world.alice, history=True)
        assert len(history) == 4


def test_export_holds_only_my_data(world, sign_in) -> None:
    client = sign_in("alice@example.com", world.alice)
    r = client.get("/portal/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    text = r.text
    data = json.loads(text)
    assert "alice@example.com" in text and "bob@example.com" not in text and "Борис" not in text
    assert data


def test_close_account_in_one_step(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    csrf = csrf_of(client.get("/portal/close").text)
    r = client.post("/portal/close", data={"csrf": csrf})
    assert r.status_code == 200 and "Your account is closed" in r.text
    with session_factory() as s:
        assert customers.get_customer(s, world.alice).status == "closed"
        assert not customers.has_consent(s, world.alice, "email")
    again = client.get("/portal/home", follow_redirects=False)
    assert again.status_code == 303


def test_close_and_erase(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    csrf = csrf_of(client.get("/portal/close").text)
    client.post("/portal/close", data={"csrf": csrf, "erase": "1"})
    with session_factory() as s:
        profile = customers.get_customer(s, world.alice)
        assert profile.status == "erased" and profile.email is None
        # the ledger stays consistent after erasure
        assert ledger.reconcile(s).ok


def test_russian_customer_sees_russian(world, sign_in, session_factory) -> None:
    client = sign_in("bob@example.com", world.bob)
    assert "Баллы, которые можно потратить" in client.get("/portal/home").text
    with session_factory() as s:
        signed = s.scalar(select(func.count()).select_from(Interaction).where(
            Interaction.customer_id == world.bob, Interaction.kind == "portal"))
    assert signed == 1


def test_every_phrase_exists_in_every_language() -> None:
    from loyalist.portal.i18n import _T, LANGUAGES

    for key, phrases in _T.items():
        assert len(phrases) == len(LANGUAGES) and all(p.strip() for p in phrases), key
