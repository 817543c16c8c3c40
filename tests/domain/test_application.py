"""The application body (domain/application.py): what is accepted, how it is normalised,
what is refused."""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from typing import Any

import pytest

from domain.application import (
    Application,
    Delivery,
    EnterpriseShareholder,
    PersonShareholder,
    apply_supplement,
    parse_application,
    parse_delivery,
)
from domain.validation import ApplicationInvalid, FieldError
from tests.domain import INVESTOR_USCC, LI_ID, SAMPLE, ZHANG_ID, sample_application
from tests.factories import resident_id, uscc


def refusals(body: object) -> dict[str, str]:
    """field -> message of every problem found in ``body`` (which must be refused)."""
    with pytest.raises(ApplicationInvalid) as caught:
        parse_application(body)
    errors = caught.value.errors
    assert errors, "an ApplicationInvalid names at least one problem"
    return {e.field: e.message for e in errors}


def refused_at(body: object, field: str) -> str:
    """The message for ``field``; fails if that field is not among the refusals."""
    found = refusals(body)
    assert field in found, f"expected a problem at {field!r}, got {found}"
    return found[field]


def with_kind(kind: str, name: str, capital: str, shareholders: list[Any]) -> dict[str, Any]:
    body = sample_application()
    body["enterprise"].update(kind=kind, name=name, registered_capital_cny=capital)
    body["shareholders"] = shareholders
    return body


def person(name: str, id_number: str, amount: str) -> dict[str, str]:
    return {"name": name, "id_number": id_number, "contribution_cny": amount}


# --- a valid application ------------------------------------------------------------------


def test_the_contract_sample_with_valid_identifiers_is_accepted() -> None:
    app = parse_application(sample_application())

    assert app.application_id == "AY20261127-0001"
    assert app.enterprise.registered_capital_cny == Decimal("500000.00")
    assert isinstance(app.shareholders[0], PersonShareholder)
    assert isinstance(app.shareholders[1], EnterpriseShareholder)
    assert app.shareholders[1].uscc == INVESTOR_USCC
    assert app.invoice is not None and app.invoice.monthly_quota == 25
    assert app.delivery.inbound_materials is False


def test_money_is_written_in_json_as_a_string_with_two_places() -> None:
    body = sample_application()
    body["enterprise"]["registered_capital_cny"] = "500000"
    body["shareholders"][0]["contribution_cny"] = 300000
    body["shareholders"][1]["contribution_cny"] = "200000.0"

    dumped = parse_application(body).model_dump(mode="json")

    assert dumped["enterprise"]["registered_capital_cny"] == "500000.00"
    assert [s["contribution_cny"] for s in dumped["shareholders"]] == ["300000.00", "200000.00"]


def test_the_json_form_reads_back_as_the_same_application() -> None:
    app = parse_application(sample_application())
    again = Application.model_validate_json(app.model_dump_json())
    assert again == app
    assert again.fingerprint() == app.fingerprint()


def test_normalised_applications_have_the_same_fingerprint() -> None:
    plain = parse_application(sample_application())

    body = sample_application()
    body["enterprise"]["registered_capital_cny"] = "500000"
    body["enterprise"]["name"] = "  安阳市文峰区晨曦餐饮有限公司 "
    body["shareholders"][0]["contribution_cny"] = 300000
    body["legal_representative"]["phone"] = "+86 138-0372-0000"
    body["delivery"]["inbound_materials"] = False
    written_differently = parse_application(body)

    assert written_differently == plain
    assert written_differently.fingerprint() == plain.fingerprint()
    assert len(plain.fingerprint()) == 64


def test_a_different_application_has_a_different_fingerprint() -> None:
    body = sample_application()
    body["invoice"]["monthly_quota"] = 26
    assert parse_application(body).fingerprint() != parse_application(SAMPLE).fingerprint()


def test_an_individual_business_without_shareholders_or_capital_is_accepted() -> None:
    body = with_kind("individual_business", "安阳市文峰区晨曦小吃店", "0.00", [])
    app = parse_application(body)
    assert app.shareholders == []
    assert app.model_dump(mode="json")["enterprise"]["registered_capital_cny"] == "0.00"


def test_a_sole_proprietorship_with_one_natural_person_is_accepted() -> None:
    body = with_kind(
        "sole_proprietorship", "安阳市文峰区晨曦餐饮店", "100000", [person("张艳鹏", ZHANG_ID, "100000")]
    )
    assert parse_application(body).enterprise.kind == "sole_proprietorship"


def test_a_partnership_of_two_is_accepted() -> None:
    partners = [person("张艳鹏", ZHANG_ID, "50000"), person("李华", LI_ID, "50000")]
    body = with_kind("partnership", "安阳市晨曦餐饮管理中心（有限合伙）", "100000", partners)
    assert len(parse_application(body).shareholders) == 2


def test_a_limited_liability_company_name_is_accepted() -> None:
    body = sample_application()
    body["enterprise"]["name"] = "安阳市文峰区晨曦餐饮有限责任公司"
    assert parse_application(body).enterprise.name.endswith("有限责任公司")


def test_invoice_is_optional_and_pickup_needs_nothing_else() -> None:
    body = sample_application()
    del body["invoice"]
    body["delivery"] = {"method": "pickup"}
    app = parse_application(body)
    assert app.invoice is None
    assert app.delivery == Delivery(method="pickup")


def test_postal_delivery_may_ask_for_inbound_materials() -> None:
    body = sample_application()
    body["delivery"].update(district_code="410506", inbound_materials=True)
    assert parse_application(body).delivery.inbound_materials is True


def test_money_may_be_given_as_a_number() -> None:
    body = sample_application()
    body["enterprise"]["registered_capital_cny"] = 500000
    body["shareholders"][0]["contribution_cny"] = 299999.5
    body["shareholders"][1]["contribution_cny"] = "200000.50"
    assert parse_application(body).shareholders[0].contribution_cny == Decimal("299999.50")


# --- refusals: identifiers, codes, phones, text ------------------------------------------


@pytest.mark.parametrize("value", ["AY1", "A" * 65, "AY 2026 0001", "AY_20261127", "安阳20261127"])
def test_a_malformed_application_id_is_refused(value: str) -> None:
    body = sample_application()
    body["application_id"] = value
    assert "6 to 64" in refused_at(body, "application_id")


def test_a_wrong_id_check_digit_is_refused_at_its_path() -> None:
    body = sample_application()
    wrong = ZHANG_ID[:17] + ("1" if ZHANG_ID[17] != "1" else "2")
    body["shareholders"][0]["id_number"] = wrong
    body["legal_representative"]["id_number"] = wrong
    found = refusals(body)
    assert "check digit" in found["shareholders.0.id_number"]
    assert "check digit" in found["legal_representative.id_number"]


def test_an_id_with_an_impossible_birth_date_is_refused() -> None:
    body = sample_application()
    body["legal_representative"]["id_number"] = resident_id("410502", birth="19850230", serial="001")
    assert "19850230" in refused_at(body, "legal_representative.id_number")


def test_a_wrong_uscc_is_refused_at_its_path() -> None:
    body = sample_application()
    body["shareholders"][1]["uscc"] = INVESTOR_USCC[:17] + ("0" if INVESTOR_USCC[17] != "0" else "1")
    assert "check character" in refused_at(body, "shareholders.1.uscc")


def test_a_lower_case_uscc_is_read_as_upper_case() -> None:
    body = sample_application()
    body["shareholders"][1]["uscc"] = INVESTOR_USCC.lower()
    assert parse_application(body).shareholders[1].model_dump()["uscc"] == INVESTOR_USCC


@pytest.mark.parametrize("path", [("enterprise",), ("delivery",)])
def test_a_district_outside_anyang_is_refused_and_the_districts_are_listed(
    path: tuple[str],
) -> None:
    body = sample_application()
    body[path[0]]["district_code"] = "410101"  # 郑州 中原区
    message = refused_at(body, f"{path[0]}.district_code")
    assert "410101" in message
    assert "410502" in message and "410581" in message and "林州市" in message


@pytest.mark.parametrize("phone", ["1380372000", "12803720000", "0372-1234567", "138037200001"])
def test_a_phone_that_is_not_a_mainland_mobile_is_refused(phone: str) -> None:
    body = sample_application()
    body["legal_representative"]["phone"] = phone
    body["delivery"]["phone"] = phone
    found = refusals(body)
    assert "mobile" in found["legal_representative.phone"]
    assert "delivery.phone" in found


@pytest.mark.parametrize("phone", ["+86 13803720000", "138-0372-0000", " 138 0372 0000 "])
def test_phone_spaces_hyphens_and_country_code_are_normalised_away(phone: str) -> None:
    body = sample_application()
    body["legal_representative"]["phone"] = phone
    assert parse_application(body).legal_representative.phone == "13803720000"


@pytest.mark.parametrize(
    ("part", "field", "value"),
    [
        ("enterprise", "name", "   "),
        ("enterprise", "name", "安阳" * 51 + "有限公司"),
        ("enterprise", "address", ""),
        ("enterprise", "address", "路" * 201),
        ("legal_representative", "name", ""),
        ("legal_representative", "name", "张\n艳鹏"),
        ("delivery", "address", " "),
    ],
)
def test_names_and_addresses_are_non_empty_and_bounded(part: str, field: str, value: str) -> None:
    body = sample_application()
    body[part][field] = value
    refused_at(body, f"{part}.{field}")


def test_an_unknown_field_is_refused() -> None:
    body = sample_application()
    body["enterprise"]["nickname"] = "晨曦"
    body["colour"] = "red"
    found = refusals(body)
    assert found["enterprise.nickname"] == "unknown field; remove it"
    assert "colour" in found


def test_a_missing_field_is_refused() -> None:
    body = sample_application()
    del body["legal_representative"]["phone"]
    assert refused_at(body, "legal_representative.phone") == "this field is required"


@pytest.mark.parametrize("body", [None, [], "application", 42])
def test_a_body_that_is_not_a_json_object_is_refused(body: object) -> None:
    assert refusals(body) == {"body": "the body must be a JSON object"}


def test_a_raw_body_that_is_not_json_is_refused() -> None:
    assert list(refusals(b"{not json")) == ["body"]


def test_a_raw_json_body_is_accepted() -> None:
    raw = json.dumps(sample_application(), ensure_ascii=False).encode()
    assert parse_application(raw) == parse_application(sample_application())


# --- refusals: money ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-1.00", "negative"),
        (-5, "negative"),
        ("100.001", "two decimal places"),
        (0.125, "two decimal places"),
        ("NaN", "not an amount"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        ("1e5", "not an amount"),
        ("５００", "not an amount"),
        ("500,000", "not an amount"),
        ("", "not an amount"),
        (True, "decimal string"),
        (None, "decimal string"),
        ("1" * 16, "below"),
    ],
)
def test_money_that_is_not_a_plain_amount_of_yuan_is_refused(value: object, words: str) -> None:
    body = sample_application()
    body["shareholders"][1]["contribution_cny"] = value
    assert words in refused_at(body, "shareholders.1.contribution_cny")


# --- refusals: business scope and seals ----------------------------------------------------


def test_an_empty_business_scope_is_refused() -> None:
    body = sample_application()
    body["enterprise"]["business_scope"] = []
    assert "经营范围" in refused_at(body, "enterprise.business_scope")


def test_an_empty_business_scope_item_is_refused_at_its_index() -> None:
    body = sample_application()
    body["enterprise"]["business_scope"] = ["餐饮服务", "  "]
    refused_at(body, "enterprise.business_scope.1")


def test_a_repeated_business_scope_item_is_refused() -> None:
    body = sample_application()
    body["enterprise"]["business_scope"] = ["餐饮服务", "食品销售", "餐饮服务"]
    assert "餐饮服务" in refused_at(body, "enterprise.business_scope")


@pytest.mark.parametrize(
    ("seals", "field", "words"),
    [
        ([], "seals", "official"),
        (["financial", "invoice"], "seals", "official seal"),
        (["official", "financial", "official"], "seals", "twice"),
        (["official", "stamp"], "seals.1", "'contract'"),
    ],
)
def test_seals_must_be_known_unique_and_include_the_official_seal(
    seals: list[str], field: str, words: str
) -> None:
    body = sample_application()
    body["seals"] = seals
    assert words in refused_at(body, field)


# --- refusals: invoice and delivery --------------------------------------------------------


@pytest.mark.parametrize(
    ("invoice", "field"),
    [
        ({"kind": "electronic_general", "monthly_quota": 0}, "invoice.monthly_quota"),
        ({"kind": "electronic_general", "monthly_quota": 1001}, "invoice.monthly_quota"),
        ({"kind": "paper", "monthly_quota": 5}, "invoice.kind"),
    ],
)
def test_an_invalid_invoice_request_is_refused(invoice: dict[str, Any], field: str) -> None:
    body = sample_application()
    body["invoice"] = invoice
    refused_at(body, field)


def test_a_postal_delivery_needs_recipient_phone_district_and_address() -> None:
    body = sample_application()
    body["delivery"] = {"method": "postal"}
    found = refusals(body)
    for field in ("recipient", "phone", "district_code", "address"):
        assert "postal delivery needs" in found[f"delivery.{field}"]


def test_inbound_materials_need_a_postal_delivery() -> None:
    body = sample_application()
    body["delivery"] = {"method": "pickup", "inbound_materials": True}
    assert "postal" in refused_at(body, "delivery.inbound_materials")


def test_an_unknown_delivery_method_is_refused() -> None:
    body = sample_application()
    body["delivery"]["method"] = "courier"
    refused_at(body, "delivery.method")


def test_a_changed_delivery_is_validated_on_its_own() -> None:
    assert parse_delivery({"method": "pickup"}).method == "pickup"
    with pytest.raises(ApplicationInvalid) as caught:
        parse_delivery({"method": "postal", "recipient": "张艳鹏"})
    assert {e.field for e in caught.value.errors} == {"phone", "district_code", "address"}


# --- refusals: kinds of enterprise and their shareholders ----------------------------------


def test_a_limited_company_name_must_end_in_youxian_gongsi() -> None:
    body = sample_application()
    body["enterprise"]["name"] = "安阳市文峰区晨曦餐饮公司"
    assert "有限公司" in refused_at(body, "enterprise.name")


def test_a_limited_company_needs_capital_above_zero() -> None:
    body = with_kind("limited_company", "安阳市晨曦有限公司", "0", [person("张艳鹏", ZHANG_ID, "0")])
    assert "above zero" in refused_at(body, "enterprise.registered_capital_cny")


def test_each_shareholder_of_a_limited_company_contributes_something() -> None:
    body = sample_application()
    body["shareholders"][0]["contribution_cny"] = "0"
    body["shareholders"][1]["contribution_cny"] = "500000"
    assert "above zero" in refused_at(body, "shareholders.0.contribution_cny")


def test_a_limited_company_needs_a_shareholder() -> None:
    body = with_kind("limited_company", "安阳市晨曦有限公司", "500000", [])
    assert "at least one shareholder" in refused_at(body, "shareholders")


def test_contributions_must_add_up_to_the_registered_capital() -> None:
    body = sample_application()
    body["shareholders"][1]["contribution_cny"] = "150000"
    message = refused_at(body, "shareholders")
    assert "450000.00" in message and "500000.00" in message


def test_contributions_are_compared_exactly_to_the_fen() -> None:
    body = sample_application()
    body["shareholders"][1]["contribution_cny"] = "200000.01"
    assert "500000.01" in refused_at(body, "shareholders")


@pytest.mark.parametrize("kind", ["sole_proprietorship", "partnership", "individual_business"])
def test_only_a_limited_company_may_have_gongsi_in_its_name(kind: str) -> None:
    holders = [person("张艳鹏", ZHANG_ID, "50000"), person("李华", LI_ID, "50000")]
    holders = {"sole_proprietorship": holders[:1], "individual_business": []}.get(kind, holders)
    capital = {"sole_proprietorship": "50000", "individual_business": "0"}.get(kind, "100000")
    body = with_kind(kind, "安阳市晨曦餐饮公司", capital, holders)
    found = refusals(body)
    assert list(found) == ["enterprise.name"]
    assert "公司" in found["enterprise.name"]


def test_a_sole_proprietorship_has_exactly_one_investor() -> None:
    two = [person("张艳鹏", ZHANG_ID, "50000"), person("李华", LI_ID, "50000")]
    body = with_kind("sole_proprietorship", "安阳市晨曦餐饮店", "100000", two)
    assert "exactly one" in refused_at(body, "shareholders")
    body["shareholders"] = []
    assert "exactly one" in refused_at(body, "shareholders")


def test_a_sole_proprietorship_investor_is_a_natural_person() -> None:
    firm = [{"name": "安阳市某某投资有限公司", "uscc": INVESTOR_USCC, "contribution_cny": "100000"}]
    body = with_kind("sole_proprietorship", "安阳市晨曦餐饮店", "100000", firm)
    assert "natural person" in refused_at(body, "shareholders.0")


def test_a_partnership_needs_two_partners() -> None:
    body = with_kind("partnership", "安阳市晨曦合伙企业", "100000", [person("李华", LI_ID, "100000")])
    assert "two or more" in refused_at(body, "shareholders")


def test_an_individual_business_has_no_shareholders() -> None:
    body = with_kind("individual_business", "安阳市晨曦小吃店", "0", [person("李华", LI_ID, "0")])
    assert "[]" in refused_at(body, "shareholders")


@pytest.mark.parametrize(
    "holder",
    [
        {"name": "张艳鹏", "contribution_cny": "300000"},
        {"name": "张艳鹏", "id_number": ZHANG_ID, "uscc": INVESTOR_USCC, "contribution_cny": "1"},
    ],
)
def test_a_shareholder_is_a_person_or_an_enterprise_not_both_nor_neither(
    holder: dict[str, str],
) -> None:
    body = sample_application()
    body["shareholders"][0] = holder
    message = refused_at(body, "shareholders.0")
    assert "id_number" in message and "uscc" in message


def test_shareholder_errors_name_the_field_without_union_noise() -> None:
    body = sample_application()
    body["shareholders"][0]["id_number"] = "123"
    body["shareholders"][1]["name"] = ""
    body["shareholders"].append("张三")
    found = refusals(body)
    assert set(found) == {"shareholders.0.id_number", "shareholders.1.name", "shareholders.2"}
    assert found["shareholders.2"] == "must be a JSON object"
    assert not any("Shareholder" in m for m in found.values())


def test_the_same_investor_twice_is_refused() -> None:
    body = sample_application()
    body["shareholders"] = [
        person("张艳鹏", ZHANG_ID, "250000"),
        person("张艳鹏", ZHANG_ID.lower(), "250000"),
    ]
    assert "shareholders.0" in refused_at(body, "shareholders.1.id_number")


def test_independent_problems_are_reported_together() -> None:
    body = sample_application()
    body["application_id"] = "x"
    body["enterprise"]["name"] = "晨曦餐饮"
    body["enterprise"]["district_code"] = "110000"
    body["legal_representative"]["phone"] = "123"
    body["seals"] = ["financial"]
    body["delivery"] = {"method": "pickup", "inbound_materials": True}
    assert set(refusals(body)) == {
        "application_id",
        "enterprise.district_code",
        "legal_representative.phone",
        "seals",
        "delivery.inbound_materials",
    }
    # once the district is right, the name rule (a model-level rule) is reported at its path
    body["enterprise"]["district_code"] = "410502"
    assert "enterprise.name" in refusals(body)


def test_application_invalid_reads_well_and_survives_pickling() -> None:
    with pytest.raises(ApplicationInvalid) as caught:
        parse_application({**sample_application(), "application_id": "x"})
    assert str(caught.value).startswith("application_id: ")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.errors == caught.value.errors
    assert caught.value.as_body() == {
        "errors": [{"field": "application_id", "message": caught.value.errors[0].message}]
    }
    assert isinstance(caught.value.errors[0], FieldError)


# --- supplements (补正) --------------------------------------------------------------------


def test_a_supplement_replaces_the_enterprise_name() -> None:
    app = parse_application(sample_application())
    enterprise = {**sample_application()["enterprise"], "name": "安阳市文峰区晨曦食府有限公司"}

    corrected = apply_supplement(app, {"enterprise": enterprise})

    assert corrected.enterprise.name == "安阳市文峰区晨曦食府有限公司"
    assert corrected.application_id == app.application_id
    assert corrected.shareholders == app.shareholders
    assert corrected.fingerprint() != app.fingerprint()


def test_a_supplement_replaces_the_shareholders() -> None:
    app = parse_application(sample_application())
    shareholders = [person("张艳鹏", ZHANG_ID, "250000"), person("李华", LI_ID, "250000")]
    corrected = apply_supplement(app, {"shareholders": shareholders})
    assert [s.name for s in corrected.shareholders] == ["张艳鹏", "李华"]


def test_an_invalid_supplement_is_refused_with_field_paths() -> None:
    app = parse_application(sample_application())
    enterprise = {**sample_application()["enterprise"], "name": "晨曦餐饮", "district_code": "1"}
    with pytest.raises(ApplicationInvalid) as caught:
        apply_supplement(app, {"enterprise": enterprise, "legal_representative": {"name": "李华"}})
    fields = {e.field for e in caught.value.errors}
    assert {"enterprise.district_code", "legal_representative.id_number"} <= fields


def test_a_supplement_is_validated_like_a_new_application() -> None:
    app = parse_application(sample_application())
    shareholders = [person("张艳鹏", ZHANG_ID, "100000")]
    with pytest.raises(ApplicationInvalid) as caught:
        apply_supplement(app, {"shareholders": shareholders})
    assert [e.field for e in caught.value.errors] == ["shareholders"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "body"), ({"seals": ["official"]}, "seals"), ([], "body"), ({"enterprise": None}, "body")],
)
def test_a_supplement_gives_only_and_at_least_one_known_part(body: object, field: str) -> None:
    app = parse_application(sample_application())
    with pytest.raises(ApplicationInvalid) as caught:
        apply_supplement(app, body)
    assert field in {e.field for e in caught.value.errors}


def test_valid_identifiers_in_samples_are_really_valid() -> None:
    # The helpers compute check characters; make sure the fixtures are not accidentally wrong.
    assert uscc("350100", org="M000100Y4") == "91350100M000100Y43"
    assert resident_id("110105", birth="19491231", serial="002") == "11010519491231002X"
