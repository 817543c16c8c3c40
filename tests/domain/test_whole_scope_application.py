"""The rest of the 企业开办 scope in the application: validated like the rest, each refusal at
its dotted path, absent parts simply absent."""

from __future__ import annotations

from typing import Any

import pytest

from domain.application import parse_application
from domain.banks import ANYANG_BANKS
from domain.validation import ApplicationInvalid
from tests import factories


def refused(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ApplicationInvalid) as invalid:
        parse_application(body)
    return {e.field: e.message for e in invalid.value.errors}


def test_all_six_items_are_accepted_and_normalised() -> None:
    body = factories.whole_scope(factories.application(), employees=10000, bank="中原银行")
    body["bank_account"]["branch"] = "北关支行"
    app = parse_application(body)
    assert app.social_insurance is not None and app.social_insurance.employees == 10000
    assert app.housing_fund is not None and app.bank_account is not None
    assert (app.bank_account.bank, app.bank_account.branch) == ("中原银行", "北关支行")
    # Absent parts are absent, and the same application is the same fingerprint either way.
    plain = parse_application(factories.application(application_id=body["application_id"]))
    assert plain.social_insurance is None and plain.bank_account is None


@pytest.mark.parametrize("employees", [0, 10001, -1, 2.5, None, "many"])
def test_employees_are_one_to_ten_thousand(employees: Any) -> None:
    body = factories.whole_scope(factories.application())
    body["social_insurance"] = {"employees": employees}
    body["housing_fund"] = {"employees": employees}
    problems = refused(body)
    assert set(problems) >= {"social_insurance.employees", "housing_fund.employees"}, problems


def test_a_bank_must_have_branches_in_anyang_and_a_branch_must_be_the_banks() -> None:
    body = factories.whole_scope(factories.application(), bank="花旗银行")
    problems = refused(body)
    assert "bank_account.bank" in problems and "中国建设银行" in problems["bank_account.bank"]
    body = factories.whole_scope(factories.application(), bank="中国银行")
    body["bank_account"]["branch"] = "林州支行"  # a branch of another bank
    problems = refused(body)
    assert list(problems) == ["bank_account.branch"]
    assert all(b.name in problems["bank_account.branch"] for b in ANYANG_BANKS["中国银行"])
    body["bank_account"] = {"bank": "中国银行", "extra": 1}
    assert "bank_account.extra" in refused(body)


def test_the_openapi_schema_lists_the_banks() -> None:
    from domain.application import Application

    schema = Application.model_json_schema()
    bank = schema["$defs"]["BankAccountRequest"]["properties"]["bank"]
    assert bank["enum"] == list(ANYANG_BANKS)
