"""Rule validation (errors name the path in the rule) and SQL-injection attempts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalist.errors import ValidationFailed
from loyalist.segments import service

from .conftest import NOW, t

BAD = [
    ([], "rule", "expected an object"),
    ({"all": {}}, "rule.all", "expected a list of conditions"),
    ({"any": []}, "rule.any", "at least one condition"),
    ({"all": [], "any": []}, "rule", "exactly one key"),
    ({"all": [{"field": "tag", "op": "eq", "value": "vip"}, {"field": "nope", "op": "eq", "value": 1}]},
     "rule.all[1].field", "unknown field 'nope'"),
    ({"all": [{}, {}, {"field": "points_balance", "op": "ge", "value": "many"}]}, "rule.all[0]",
     "expected an object"),
    ({"all": [{"field": "tag", "op": "eq", "value": "vip"}, {"field": "tag", "op": "eq", "value": "vip"},
              {"field": "points_balance", "op": "ge", "value": "many"}]}, "rule.all[2].value",
     "expected a whole number"),
    ({"field": "churn_risk", "op": "ge", "value": "high"}, "rule.value", "expected a number"),
    ({"field": "churn_risk", "op": "ge", "value": 1.5}, "rule.value", "between 0 and 1"),
    ({"field": "churn_risk", "op": "ge", "value": True}, "rule.value", "expected a number"),
    ({"field": "spend", "op": "ge", "value": "NaN"}, "rule.value", "finite"),
    ({"field": "spend", "op": "ge", "value": "100", "window_days": 0}, "rule.window_days", "between 1"),
    ({"field": "spend", "op": "ge", "value": "100", "window_days": "90"}, "rule.window_days", "whole number"),
    ({"field": "tag", "op": "eq", "value": "vip", "window_days": 30}, "rule.window_days", "takes no window"),
    ({"field": "tag", "op": "lt", "value": "vip"}, "rule.op", "not allowed for tag"),
    ({"field": "tag", "op": "DROP", "value": "vip"}, "rule.op", "not allowed"),
    ({"field": "tag", "op": "eq"}, "rule.value", "a value is required"),
    ({"field": "tag", "op": "eq", "value": "bad tag!"}, "rule.value", "is not valid: 1-50 of a-z"),
    ({"field": "tag", "op": "is_null", "value": "x"}, "rule.value", "takes no value"),
    ({"field": "tag", "op": "in", "value": []}, "rule.value", "non-empty list"),
    ({"field": "tag", "op": "in", "value": ["vip", 3]}, "rule.value[1]", "expected a text"),
    ({"field": "birthday_month", "op": "eq", "value": 13}, "rule.value", "1..12"),
    ({"field": "joined", "op": "ge", "value": "yesterday"}, "rule.value", "YYYY-MM-DD"),
    ({"field": "joined", "op": "within_days", "value": -1}, "rule.value", "between 0"),
    ({"field": "joined", "op": "between", "value": ["2025-01-01"]}, "rule.value", "two values"),
    ({"field": "joined", "op": "between", "value": ["2025-02-01", "2025-01-01"]}, "rule.value", "low end"),
    ({"field": "rfm_segment", "op": "eq", "value": "kings"}, "rule.value", "is not one of"),
    ({"field": "consent", "op": "eq", "value": "pigeon"}, "rule.value", "is not one of"),
    ({"field": "city", "op": "contains", "value": "  "}, "rule.value", "non-empty text"),
    ({"field": "city", "op": "eq", "value": "a\x00b"}, "rule.value", "NUL"),
    ({"field": "locale", "op": "eq", "value": "x" * 201}, "rule.value", "at most 200"),
    ({"field": "tag", "op": "eq", "value": "vip", "extra": 1}, "rule", "unknown key(s) ['extra']"),
    ({"not": {"any": [{"field": "tag", "op": "eq", "value": "vip"}, {"not": {"field": "x", "op": "eq"}}]}},
     "rule.not.any[1].not.field", "unknown field"),
]


@pytest.mark.parametrize(("rule", "path", "text"), BAD)
def test_validation_errors_name_the_path(rule, path, text) -> None:
    with pytest.raises(ValidationFailed) as info:
        service.validate_rule(rule)
    assert info.value.field == path
    assert info.value.message.startswith(f"{path}: ")
    assert text in info.value.message


def test_depth_and_size_limits() -> None:
    rule: dict = {"field": "tag", "op": "eq", "value": "vip"}
    for _ in range(13):
        rule = {"not": rule}
    with pytest.raises(ValidationFailed, match="nested deeper than 12"):
        service.validate_rule(rule)
    many = {"any": [{"field": "tag", "op": "eq", "value": "vip"}] * 201}
    with pytest.raises(ValidationFailed) as info:
        service.validate_rule(many)
    assert info.value.field == "rule.any[200]"


INJECTIONS = [
    {"field": "locale", "op": "eq", "value": "en' OR '1'='1"},
    {"field": "locale", "op": "in", "value": ["x'); DROP TABLE customers; --"]},
    {"field": "city", "op": "contains", "value": "' OR 1=1 --"},
    {"field": "city", "op": "contains", "value": "%"},
    {"field": "store", "op": "eq", "value": "CPH-1' OR 'a'='a"},
    {"field": "tier", "op": "eq", "value": "gold' --"},
]


@pytest.mark.parametrize("rule", INJECTIONS)
def test_values_are_bound_parameters(session, people, rule) -> None:
    assert service.member_ids(session, rule=rule, as_of=NOW) == []
    assert session.scalar(select(func.count()).select_from(t("customers"))) == 5


@pytest.mark.parametrize("field", ["locale; DROP TABLE customers", "customers.id", "1=1", "__class__", "email"])
def test_field_names_come_from_the_catalogue(session, people, field) -> None:
    with pytest.raises(ValidationFailed) as info:
        service.count(session, rule={"field": field, "op": "eq", "value": "x"})
    assert info.value.field == "rule.field"
    assert session.scalar(select(func.count()).select_from(t("customers"))) == 5


def test_compiled_sql_contains_no_user_text(session, people) -> None:
    from loyalist.segments import queries

    pred = queries.rule_predicate(session, {"all": [{"field": "city", "op": "contains", "value": "zz'q"},
                                                    {"field": "locale", "op": "eq", "value": "yy'q"}]}, as_of=NOW)
    sql = str(queries.member_query(pred).compile(dialect=session.get_bind().dialect))
    assert "zz" not in sql and "yy" not in sql
