"""The customer 360 pages the customer's offers in the database (limit + 1 rows, "More offers"),
instead of loading every offer a long-time customer was ever given."""

from __future__ import annotations

import re

from sqlalchemy import event
from tests.conftest import STAFF_ACTOR

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.errors import ValidationFailed
from loyalist.offers import service as offers
from loyalist.offers.schemas import OfferCreate
from loyalist.web.domains import OFFERS_PAGE


def _customer_with_offers(session_factory, n: int) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    """`n` offers issued to one customer (oldest first); returns the names newest first."""
    with session_factory() as s, s.begin():
        cid = customers.create_customer(s, data=CustomerCreate(first_name="Long", last_name="Timer"),
                                        actor=STAFF_ACTOR).id
        names = []
        for i in range(n):
            offer = offers.create_offer(s, data=OfferCreate(name=f"Offer {i:02d}", kind="generic"), actor=STAFF_ACTOR)
            offers.issue_offer(s, offer_id=offer.id, customer_id=cid, actor=STAFF_ACTOR, issue_key=f"k{i}")
            names.append(offer.name)
    return cid, names[::-1]


def test_the_service_pages_in_the_database(session_factory) -> None:
    cid, newest_first = _customer_with_offers(session_factory, 5)
    statements: list[str] = []
    with session_factory() as s:
        conn = s.connection()
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        page = offers.list_customer_offers(s, cid, limit=2, offset=2)
        assert [o.name for o in page] == newest_first[2:4]
        assert any("LIMIT" in q.upper() and "FROM offer_issues" in q for q in statements)
        assert [o.name for o in offers.list_customer_offers(s, cid)] == newest_first  # no limit: all, as before
        for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
            try:
                offers.list_customer_offers(s, cid, **bad)  # type: ignore[arg-type]
            except ValidationFailed as exc:
                assert exc.field in bad
            else:
                raise AssertionError(bad)


def test_the_360_shows_a_page_of_offers_with_a_more_link(console_as, session_factory) -> None:
    cid, newest_first = _customer_with_offers(session_factory, OFFERS_PAGE + 2)
    c = console_as("agent")
    first = c.get(f"/console/customers/{cid}")
    section = first.text.split('id="h-offers"')[1].split("</section>")[0]
    assert re.findall(r"<li>(Offer \d\d) ", section) == newest_first[:OFFERS_PAGE]
    more = re.search(r'<a rel="next" href="([^"]+)" data-testid="more-offers">More offers', section)
    assert more and 'rel="prev"' not in section
    second = c.get(more.group(1).replace("&amp;", "&"))
    section2 = second.text.split('id="h-offers"')[1].split("</section>")[0]
    assert re.findall(r"<li>(Offer \d\d) ", section2) == newest_first[OFFERS_PAGE:]
    assert 'data-testid="more-offers"' not in section2 and 'rel="prev"' in section2
    assert c.get(f"/console/customers/{cid}", params={"offers_offset": -1}).status_code == 400
