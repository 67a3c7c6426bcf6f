"""Every field and operator against the hand-built population (tests/segments/conftest.py),
with exact member sets; each case also checks that {"not": rule} is the exact complement
among active customers (leaves are two-valued, so unknown values are not lost)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalist.segments import queries, service
from loyalist.segments.fields import CATALOGUE

from .conftest import ACTIVE, NOW


def leaf(field, op, value=None, **extra):
    rule = {"field": field, "op": op}
    if value is not None:
        rule["value"] = value
    return rule | extra


CASES = [
    (leaf("locale", "eq", "en"), "A"),
    (leaf("locale", "eq", "EN"), "A"),
    (leaf("locale", "ne", "en"), "BC"),
    (leaf("locale", "in", ["ru", "da"]), "BC"),
    (leaf("locale", "not_in", ["en"]), "BC"),
    (leaf("locale", "is_null"), "E"),
    (leaf("locale", "is_not_null"), "ABC"),
    (leaf("preferred_channel", "eq", "email"), "A"),
    (leaf("preferred_channel", "in", ["email", "sms"]), "AB"),
    (leaf("preferred_channel", "is_null"), "CE"),
    (leaf("joined", "lt", "2024-01-10"), "E"),
    (leaf("joined", "le", "2024-01-10"), "AE"),
    (leaf("joined", "eq", "2024-01-10"), "A"),
    (leaf("joined", "ne", "2024-01-10"), "BCE"),
    (leaf("joined", "gt", "2025-06-01"), "C"),
    (leaf("joined", "ge", "2025-06-01"), "BC"),
    (leaf("joined", "between", ["2024-01-01", "2025-12-31"]), "AB"),
    (leaf("joined", "within_days", 30), "C"),
    (leaf("joined", "before_days", 30), "ABE"),
    (leaf("created_at", "within_days", 13), ""),
    (leaf("birthday_month", "eq", 3), "AE"),
    (leaf("birthday_month", "ne", 3), "B"),
    (leaf("birthday_month", "in", [12, 1]), "B"),
    (leaf("birthday_month", "not_in", [12]), "AE"),
    (leaf("birthday_month", "between", [1, 6]), "AE"),
    (leaf("birthday_month", "is_null"), "C"),
    (leaf("birthday_month", "is_not_null"), "ABE"),
    (leaf("has_email", "eq", True), "ACE"),
    (leaf("has_email", "eq", False), "B"),
    (leaf("has_email", "ne", True), "B"),
    (leaf("has_phone", "eq", True), "B"),
    (leaf("country", "eq", "dk"), "AE"),
    (leaf("country", "ne", "DK"), "B"),
    (leaf("country", "in", ["SE"]), "B"),
    (leaf("country", "not_in", ["SE"]), "AE"),
    (leaf("country", "is_null"), "C"),
    (leaf("country", "is_not_null"), "ABE"),
    (leaf("city", "eq", "COPENHAGEN"), "A"),
    (leaf("city", "eq", "Odense"), ""),
    (leaf("city", "contains", "ar"), "E"),
    (leaf("city", "contains", "malm"), "B"),
    (leaf("city", "contains", "%"), ""),
    (leaf("city", "contains", "_"), ""),
    (leaf("tag", "eq", "VIP"), "AE"),
    (leaf("tag", "ne", "vip"), "BC"),
    (leaf("tag", "in", ["newsletter", "nobody"]), "AC"),
    (leaf("tag", "not_in", ["vip", "newsletter"]), "B"),
    (leaf("tag", "is_null"), "B"),
    (leaf("tag", "is_not_null"), "ACE"),
    (leaf("values", "eq", "discounts"), "A"),
    (leaf("values", "in", ["greetings", "discounts"]), "AC"),
    (leaf("values", "ne", "discounts"), "BCE"),
    (leaf("values", "is_null"), "BE"),
    (leaf("consent", "eq", "email"), "AE"),
    (leaf("consent", "eq", "sms"), "B"),
    (leaf("consent", "ne", "email"), "BC"),
    (leaf("consent", "in", ["email", "sms"]), "ABE"),
    (leaf("consent", "not_in", ["email", "sms"]), "C"),
    (leaf("tier", "eq", "gold"), "AE"),
    (leaf("tier", "ne", "gold"), "B"),
    (leaf("tier", "in", ["silver", "bronze"]), "B"),
    (leaf("tier", "not_in", ["silver"]), "AE"),
    (leaf("tier", "contains", "ol"), "AE"),
    (leaf("tier", "is_null"), "C"),
    (leaf("tier", "is_not_null"), "ABE"),
    (leaf("points_balance", "ge", 100), "A"),
    (leaf("points_balance", "lt", 100), "BCE"),
    (leaf("points_balance", "eq", 0), "CE"),
    (leaf("points_balance", "ne", 0), "AB"),
    (leaf("points_balance", "gt", 0), "AB"),
    (leaf("points_balance", "le", 50), "BCE"),
    (leaf("points_balance", "between", [1, 100]), "B"),
    (leaf("points_balance", "in", [0, 500]), "ACE"),
    (leaf("points_balance", "not_in", [0]), "AB"),
    (leaf("rfm_segment", "eq", "champions"), "A"),
    (leaf("rfm_segment", "ne", "champions"), "BE"),
    (leaf("rfm_segment", "in", ["at risk", "lost"]), "BE"),
    (leaf("rfm_segment", "not_in", ["lost"]), "AB"),
    (leaf("rfm_segment", "is_null"), "C"),
    (leaf("churn_risk", "ge", 0.8), "BE"),
    (leaf("churn_risk", "gt", "0.8"), "E"),
    (leaf("churn_risk", "lt", 0.5), "A"),
    (leaf("churn_risk", "le", 0.1), "A"),
    (leaf("churn_risk", "eq", 0.8), "B"),
    (leaf("churn_risk", "ne", 0.8), "AE"),
    (leaf("churn_risk", "between", [0.5, 0.9]), "B"),
    (leaf("churn_risk", "is_null"), "C"),
    (leaf("churn_risk", "is_not_null"), "ABE"),
    (leaf("p_alive", "is_null"), "CE"),
    (leaf("p_alive", "gt", 0.5), "A"),
    (leaf("predicted_clv", "ge", "100"), "A"),
    (leaf("predicted_clv", "lt", 25), "B"),
    (leaf("predicted_clv", "eq", "20.5"), "B"),
    (leaf("predicted_clv", "between", ["20.50", "300.00"]), "AB"),
    (leaf("predicted_clv", "gt", "300.00"), ""),
    (leaf("predicted_clv", "is_null"), "CE"),
    (leaf("historical_clv", "ge", 1000), "E"),
    (leaf("last_purchase_days", "le", 5), "A"),
    (leaf("last_purchase_days", "lt", 5), ""),
    (leaf("last_purchase_days", "eq", 5), "A"),
    (leaf("last_purchase_days", "ne", 5), "BE"),
    (leaf("last_purchase_days", "ge", 100), "BE"),
    (leaf("last_purchase_days", "gt", 100), "B"),
    (leaf("last_purchase_days", "between", [90, 150]), "E"),
    (leaf("last_purchase_days", "in", [5, 100]), "AE"),
    (leaf("last_purchase_days", "not_in", [5, 100]), "B"),
    (leaf("last_purchase_days", "is_null"), "C"),
    (leaf("last_purchase_days", "is_not_null"), "ABE"),
    (leaf("purchases_count", "ge", 1), "ABE"),
    (leaf("purchases_count", "eq", 0), "C"),
    (leaf("purchases_count", "ge", 3), "A"),
    (leaf("purchases_count", "ge", 2), "AE"),
    (leaf("purchases_count", "lt", 2), "BC"),
    (leaf("purchases_count", "eq", 1), "B"),
    (leaf("purchases_count", "between", [1, 2]), "BE"),
    (leaf("purchases_count", "ne", 3), "BCE"),
    (leaf("purchases_count", "ge", 1, window_days=30), "A"),
    (leaf("purchases_count", "eq", 0, window_days=30), "BCE"),
    (leaf("purchases_count", "ge", 2, window_days=365), "A"),
    (leaf("spend", "ge", "100"), "AE"),
    (leaf("spend", "lt", 100), "BC"),
    (leaf("spend", "eq", "70"), "B"),
    (leaf("spend", "eq", 0), "C"),
    (leaf("spend", "gt", "1019.99"), "E"),
    (leaf("spend", "ge", 100, window_days=365), "A"),
    (leaf("spend", "le", 20, window_days=365), "CE"),
    (leaf("spend", "between", ["111", "180"], window_days=15), ""),
    (leaf("spend", "between", ["50", "110"], window_days=15), "A"),
    (leaf("store", "eq", "CPH-1"), "AE"),
    (leaf("store", "ne", "CPH-1"), "BC"),
    (leaf("store", "in", ["MAL-2"]), "B"),
    (leaf("store", "not_in", ["MAL-2"]), "ACE"),
    (leaf("store", "eq", "CPH-1", window_days=30), "A"),
    (leaf("open_cases", "ge", 1), "AE"),
    (leaf("open_cases", "eq", 0), "BC"),
    (leaf("open_cases", "ge", 2), "A"),
    (leaf("open_cases", "le", 1), "BCE"),
    (leaf("open_cases", "between", [1, 1]), "E"),
    (leaf("nps_category", "eq", "promoter"), "A"),
    (leaf("nps_category", "eq", "detractor"), "B"),
    (leaf("nps_category", "in", ["passive"]), "E"),
    (leaf("nps_category", "ne", "promoter"), "BE"),
    (leaf("nps_category", "not_in", ["promoter", "passive"]), "B"),
    (leaf("nps_category", "is_null"), "C"),
    (leaf("nps_category", "is_not_null"), "ABE"),
]


def _ids(people, letters: str) -> list[int]:
    return sorted(people[x] for x in letters)


def test_every_field_has_cases() -> None:
    covered = {rule["field"] for rule, _ in CASES}
    assert set(CATALOGUE) == covered


FIELDS = sorted({rule["field"] for rule, _ in CASES})


@pytest.mark.parametrize("field", FIELDS)
def test_field(session, people, field) -> None:
    """One test per field (the population is built once for all its cases)."""
    wrong = []
    for rule, expected in CASES:
        if rule["field"] != field:
            continue
        got = service.member_ids(session, rule=rule, as_of=NOW)
        complement = "".join(sorted(ACTIVE - set(expected)))
        got_not = service.member_ids(session, rule={"not": rule}, as_of=NOW)
        got_count = service.count(session, rule=rule, as_of=NOW)
        # the correlated form (one customer at a time, used by matches) must agree
        pred = queries.rule_predicate(session, {"not": rule}, as_of=NOW, correlated=True)
        got_correlated = sorted(session.scalars(queries.member_query(pred)))
        if (got, got_not, got_count, got_correlated) != (_ids(people, expected), _ids(people, complement),
                                                         len(expected), _ids(people, complement)):
            wrong.append((rule, expected, got, got_not, got_count, got_correlated))
    assert wrong == []


def test_evaluation_time_moves_relative_conditions(session, people) -> None:
    rule = leaf("purchases_count", "ge", 1, window_days=30)
    assert service.member_ids(session, rule=rule, as_of=NOW - timedelta(days=90)) == _ids(people, "E")
    assert service.member_ids(session, rule=leaf("last_purchase_days", "eq", 0), as_of=NOW - timedelta(days=5)) \
        == _ids(people, "A")
    # C's purchase three days after NOW counts once the evaluation time passes it
    assert service.member_ids(session, rule=leaf("purchases_count", "ge", 1), as_of=NOW + timedelta(days=4)) \
        == _ids(people, "ABCE")
    assert service.member_ids(session, rule=leaf("nps_category", "eq", "promoter"),
                              as_of=NOW + timedelta(days=4)) == _ids(people, "AC")


NESTED = [
    ({"all": []}, "ABCE"),
    ({"all": [leaf("tag", "eq", "vip"), {"not": leaf("country", "eq", "DK")}]}, ""),
    ({"all": [leaf("tag", "eq", "vip"), leaf("churn_risk", "lt", 0.5)]}, "A"),
    ({"any": [leaf("locale", "eq", "ru"), {"all": [leaf("tag", "eq", "vip"), leaf("churn_risk", "ge", 0.9)]}]}, "BE"),
    ({"not": {"any": [leaf("locale", "eq", "ru"), leaf("tag", "eq", "vip")]}}, "C"),
    ({"not": {"not": leaf("tier", "eq", "gold")}}, "AE"),
    ({"all": [{"any": [leaf("consent", "eq", "email"), leaf("consent", "eq", "sms")]},
              {"not": leaf("nps_category", "eq", "detractor")},
              {"any": [leaf("spend", "ge", 100, window_days=365), leaf("points_balance", "eq", 0)]}]}, "AE"),
]


@pytest.mark.parametrize(("rule", "expected"), NESTED)
def test_nesting(session, people, rule, expected) -> None:
    assert service.member_ids(session, rule=rule, as_of=NOW) == _ids(people, expected)


def test_matches_one_customer(session, people) -> None:
    rule = leaf("tag", "eq", "vip")
    assert [x for x in "ABCDE" if service.matches(session, rule=rule, customer_id=people[x], as_of=NOW)] \
        == ["A", "E"]


SCORES_MERGED = [
    # conditions on the one customer_scores row merge into one membership; not/or stay exact,
    # and a customer without a scores row (C) or with NULL scores (E) is handled like before
    ({"all": [leaf("churn_risk", "ge", 0.5), leaf("predicted_clv", "lt", 25)]}, "B"),
    ({"all": [leaf("churn_risk", "ge", 0.5), {"not": leaf("predicted_clv", "is_not_null")}]}, "E"),
    ({"any": [leaf("churn_risk", "ge", 0.9), leaf("predicted_clv", "ge", 100)]}, "AE"),
    ({"any": [{"not": leaf("churn_risk", "is_not_null")}, leaf("predicted_clv", "lt", 25)]}, "BC"),
    ({"all": [{"not": leaf("churn_risk", "ge", 0.5)}, {"not": leaf("predicted_clv", "ge", 100)}]}, "C"),
    ({"not": {"all": [leaf("churn_risk", "ge", 0.5), leaf("predicted_clv", "is_null")]}}, "ABC"),
    ({"all": [leaf("rfm_segment", "eq", "champions"), leaf("churn_risk", "le", 0.1), leaf("tag", "eq", "vip")]}, "A"),
    ({"any": [leaf("p_alive", "is_null"), {"all": [leaf("p_alive", "lt", 0.5), leaf("historical_clv", "gt", 50)]}]},
     "BCE"),
]


@pytest.mark.parametrize(("rule", "expected"), SCORES_MERGED)
def test_merged_score_conditions(session, people, rule, expected) -> None:
    complement = "".join(sorted(ACTIVE - set(expected)))
    assert service.member_ids(session, rule=rule, as_of=NOW) == _ids(people, expected)
    assert service.member_ids(session, rule={"not": rule}, as_of=NOW) == _ids(people, complement)
    assert service.count(session, rule=rule, as_of=NOW) == len(expected)
    assert [x for x in "ABCDE" if service.matches(session, rule=rule, customer_id=people[x], as_of=NOW)] \
        == list(expected)


def test_conditions_on_one_scores_row_read_the_table_once(session, people) -> None:
    sql = str(queries.rule_predicate(session, SCORES_MERGED[0][0], as_of=NOW).compile())
    assert sql.count("FROM customer_scores") == 1, sql
