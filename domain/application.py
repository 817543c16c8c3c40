"""The application for setting up an enterprise (企业开办申请): the body of ``POST /v1/applications``.

One model is the single source of truth: the gateway validates the portal's body with it, the
workflow receives it, and the OpenAPI document is generated from it. Every refusal carries a
dotted field path (``shareholders.1.contribution_cny``) and says in English what is wrong.
Values are normalised on the way in (money to two decimal places, ``x`` to ``X`` in ID
numbers, phone numbers to 11 digits), so two applications that mean the same have the same
``fingerprint()``.

The JSON schema (``/openapi.json``) says every rule a schema can say: lengths, patterns, Anyang's
district codes, the delivery methods as a ``oneOf`` on ``method``, the shareholders each kind of
enterprise takes. Check digits, the contributions adding up to the capital and repeated investors
are beyond a schema; their descriptions say so, and the gateway answers them with a 422 like
every other rule.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

from domain.banks import ANYANG_BANKS
from domain.districts import ANYANG_DISTRICTS
from domain.identifiers import (
    APPLICATION_ID_PATTERN,
    APPLICATION_ID_RULE,
    is_application_id,
    resident_id_problem,
    uscc_problem,
)
from domain.validation import decode_json_body, validated

EnterpriseKind = Literal["limited_company", "sole_proprietorship", "partnership", "individual_business"]
SealKind = Literal["official", "financial", "invoice", "contract", "legal_representative"]
InvoiceKind = Literal["electronic_general", "electronic_special"]
DeliveryMethod = Literal["postal", "pickup"]

KIND_LABELS: dict[str, str] = {
    "limited_company": "a limited company (有限责任公司)",
    "sole_proprietorship": "a sole proprietorship (个人独资企业)",
    "partnership": "a partnership (合伙企业)",
    "individual_business": "an individual business (个体工商户)",
}
LIMITED_COMPANY_SUFFIXES = ("有限公司", "有限责任公司")


def enterprise_name_searchable(kind: str) -> bool:
    """Whether the enterprise's name may be a search attribute (``EnterpriseName``), which is kept
    in clear: not an individual business's (个体工商户), usually named after its owner
    ("李记早餐店"); that one stays in the case's encrypted summary."""
    return kind != "individual_business"


# Company Law: a limited liability company has at most fifty shareholders.
MAX_LIMITED_COMPANY_SHAREHOLDERS = 50

_CENT = Decimal("0.01")
_MONEY_LIMIT = Decimal("1e15")  # a quadrillion yuan: more is a typing error
_MONEY_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_PHONE_SEPARATORS = re.compile(r"[\s\-]+")
_DISTRICT_LIST = ", ".join(f"{code} {name}" for code, name in ANYANG_DISTRICTS.items())

# --- what the JSON schema says about text (the validators below are the rules themselves) ---------
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_SPACE = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"
"""One line of text: no control characters (line breaks included), not only spaces."""
# An ID number's birth date (YYYYMMDD) exists and is from 1900 on, as far as a pattern can say it:
# thirty days hath September…, and 29 February in leap years only. The check digit is beyond it.
_YEAR = "(?:19|[2-9][0-9])[0-9]{2}"
_LEAP_YEAR = "(?:(?:19|[2-9][0-9])(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[3579][26])00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
    "|02(?:0[1-9]|1[0-9]|2[0-8]))"
)
BIRTH_DATE_PATTERN = f"(?:{_YEAR}{_MONTH_DAY}|{_LEAP_YEAR}0229)"
RESIDENT_ID_PATTERN = f"^[0-9]{{6}}{BIRTH_DATE_PATTERN}[0-9]{{3}}[0-9Xx]$"
USCC_PATTERN = r"^[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{18}$"
MOBILE_PATTERN = r"^(\+86)?1[3-9][0-9]{9}$"
MONEY_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,2})?$"
LIMITED_COMPANY_NAME_PATTERN = "(有限公司|有限责任公司)$"


def _text_schema(max_length: int, description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": TEXT_PATTERN,
            "description": f"{description}: one line, 1 to {max_length} characters "
            "(surrounding spaces are trimmed)",
        }
    )


def _error(kind: str, message: str, **context: Any) -> PydanticCustomError:
    """A refusal. Values the applicant typed go in ``context`` so braces in them stay literal."""
    return PydanticCustomError(kind, message, context or None)


class _Problems:
    """Problems found by a cross-field rule, each at its own path relative to the model."""

    def __init__(self) -> None:
        self._details: list[InitErrorDetails] = []

    def add(self, loc: tuple[str | int, ...], kind: str, message: str, value: Any, **context: Any) -> None:
        self._details.append({"type": _error(kind, message, **context), "loc": loc, "input": value})

    def raise_if_any(self, title: str) -> None:
        # Pydantic keeps the locations of a ValidationError raised inside a validator and
        # prefixes them with the path to this model, so nested rules report full paths.
        if self._details:
            raise ValidationError.from_exception_data(title, self._details)


# --- money -------------------------------------------------------------------------------


def _parse_money(value: object) -> Decimal:
    if isinstance(value, bool):
        raise _error("money_type", 'an amount of money is a decimal string like "500000.00"')
    amount: Decimal
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _error("money_parsing", "an amount of money must be a finite number")
        amount = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str):
        text = value.strip()
        if not _MONEY_TEXT.fullmatch(text):
            raise _error(
                "money_parsing",
                '"{value}" is not an amount of money; write yuan as a decimal like "500000.00"',
                value=value[:40],
            )
        amount = Decimal(text)
    else:
        raise _error("money_type", 'an amount of money is a decimal string like "500000.00"')
    if not amount.is_finite():
        raise _error("money_parsing", "an amount of money must be a finite number")
    if amount < 0:
        raise _error("money_negative", "an amount of money must not be negative")
    if amount >= _MONEY_LIMIT:
        raise _error("money_too_large", "an amount of money must be below 10^15 yuan")
    try:
        cents = amount.quantize(_CENT)
    except InvalidOperation as exc:  # pragma: no cover - excluded by the limit above
        raise _error("money_parsing", "the amount of money cannot be read") from exc
    if cents != amount:
        raise _error("money_precision", "an amount of money has at most two decimal places (fen)")
    return cents if cents else Decimal("0.00")  # no "-0.00"


def _money_text(amount: Decimal) -> str:
    return f"{amount:.2f}"


Money = Annotated[
    Decimal,
    PlainValidator(_parse_money),
    PlainSerializer(_money_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "maxLength": 18,
            "description": "yuan (元), below 10^15, at most two decimal places; numbers are accepted too",
            "examples": ["500000.00"],
        }
    ),
]
"""Yuan: a non-negative Decimal with two places, written in JSON as ``"500000.00"``."""


# --- text and identifiers -----------------------------------------------------------------


def _text(what: str, max_length: int) -> AfterValidator:
    def check(value: str) -> str:
        if not value:
            raise _error("text_empty", f"{what} must not be empty")
        if len(value) > max_length:
            raise _error("text_too_long", f"{what} has at most {max_length} characters")
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise _error("text_control", f"{what} must not contain line breaks or control characters")
        return value

    return AfterValidator(check)


def _check_application_id(value: str) -> str:
    if not is_application_id(value):
        raise _error("application_id", APPLICATION_ID_RULE)
    return value


def _check_district(value: str) -> str:
    if value not in ANYANG_DISTRICTS:
        raise _error(
            "district_code",
            f"'{{value}}' is not one of Anyang's districts (安阳市辖区县): {_DISTRICT_LIST}",
            value=value[:20],
        )
    return value


def _normalise_resident_id(value: str) -> str:
    if value.endswith("x"):
        value = value[:-1] + "X"
    problem = resident_id_problem(value)
    if problem is not None:
        raise _error("resident_id", "{problem}", problem=problem)
    return value


def _normalise_uscc(value: str) -> str:
    value = value.upper()
    problem = uscc_problem(value)
    if problem is not None:
        raise _error("uscc", "{problem} (统一社会信用代码)", problem=problem)
    return value


def _normalise_mobile(value: str) -> str:
    digits = _PHONE_SEPARATORS.sub("", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    if not _MOBILE.fullmatch(digits):
        raise _error(
            "mobile_phone",
            "a mobile phone number (手机号) is 11 digits starting with 13 to 19, e.g. 13803720000",
        )
    return digits


def _no_repeats(items: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise _error("repeated_item", f"{what} lists '{{item}}' twice", item=item)
        seen.add(item)


def _check_business_scope(items: list[str]) -> list[str]:
    if not items:
        raise _error("business_scope_empty", "the business scope (经营范围) needs at least one item")
    _no_repeats(items, "the business scope")
    return items


def _check_seals(seals: list[str]) -> list[str]:
    if not seals:
        raise _error("seals_empty", "at least the official seal (公章) must be ordered")
    _no_repeats(seals, "seals")
    if "official" not in seals:
        raise _error("seals_official", "the seals must include the official seal (公章, 'official')")
    return seals


ApplicationId = Annotated[
    str,
    AfterValidator(_check_application_id),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": APPLICATION_ID_PATTERN,
            "minLength": 6,
            "maxLength": 64,
            "description": f"申请编号, assigned by the portal: {APPLICATION_ID_RULE}",
            "examples": ["AY20261127-0001"],
        }
    ),
]
PersonName = Annotated[str, _text("a name", 50), _text_schema(50, "a person's name")]
EnterpriseName = Annotated[str, _text("an enterprise name", 100), _text_schema(100, "an enterprise name")]
Address = Annotated[str, _text("an address", 200), _text_schema(200, "an address")]
DistrictCode = Annotated[
    str,
    AfterValidator(_check_district),
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(ANYANG_DISTRICTS),
            "description": f"one of Anyang's districts (安阳市辖区县, GB/T 2260): {_DISTRICT_LIST}",
        }
    ),
]
ResidentId = Annotated[
    str,
    AfterValidator(_normalise_resident_id),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": RESIDENT_ID_PATTERN,
            "description": "居民身份证号码 (GB 11643-1999): 17 digits with an existing birth date "
            "from 1900 on, then the check digit (0-9 or X); a wrong check digit is a 422",
        }
    ),
]
Uscc = Annotated[
    str,
    AfterValidator(_normalise_uscc),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": USCC_PATTERN,
            "description": "统一社会信用代码 (GB 32100-2015): 18 of 0-9 and A-Y without I, O, S, V, Z "
            "(lower case is read as upper), the last a check character; a wrong one is a 422",
        }
    ),
]
MobilePhone = Annotated[
    str,
    AfterValidator(_normalise_mobile),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MOBILE_PATTERN,
            "description": "a mobile phone number (手机号): 11 digits starting with 13 to 19, optionally "
            "after +86 (spaces and hyphens between digits are tolerated and removed)",
            "examples": ["13803720000"],
        }
    ),
]
BusinessScopeItem = Annotated[
    str, _text("a business scope item", 100), _text_schema(100, "a business scope item (经营范围)")
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- the parts of an application ----------------------------------------------------------


def _enterprise_schema(schema: dict[str, Any]) -> None:
    """The kind's rules on the name and the capital, as far as a schema can say them."""

    def kind_is(kind: str) -> dict[str, Any]:
        return {"properties": {"kind": {"const": kind}}, "required": ["kind"]}

    schema["allOf"] = [
        {
            "if": kind_is("limited_company"),
            "then": {"properties": {"name": {"pattern": LIMITED_COMPANY_NAME_PATTERN}}},
            "else": {"properties": {"name": {"not": {"pattern": "公司"}}}},
        },
        {
            "if": kind_is("individual_business"),
            "then": {},
            "else": {"properties": {"registered_capital_cny": {"pattern": "[1-9]"}}},
        },
    ]
    schema["description"] = (
        f"{schema.get('description', '')} A limited company's name ends with 有限公司 or 有限责任公司, "
        "no other kind's contains 公司; every kind but an individual business has a registered capital "
        "above zero."
    ).strip()


class Enterprise(_Model):
    """The enterprise to be set up."""

    model_config = ConfigDict(json_schema_extra=_enterprise_schema)

    name: EnterpriseName
    kind: EnterpriseKind
    registered_capital_cny: Money
    business_scope: Annotated[
        list[BusinessScopeItem],
        Field(max_length=50, json_schema_extra={"minItems": 1, "uniqueItems": True}),
        AfterValidator(_check_business_scope),
    ]
    district_code: DistrictCode
    address: Address

    @model_validator(mode="after")
    def _kind_rules(self) -> Self:
        problems = _Problems()
        label = KIND_LABELS[self.kind]
        if self.kind == "limited_company":
            if not self.name.endswith(LIMITED_COMPANY_SUFFIXES):
                problems.add(
                    ("name",),
                    "enterprise_name_form",
                    "a limited company's name (企业名称) ends with 有限公司 or 有限责任公司",
                    self.name,
                )
        elif "公司" in self.name:
            problems.add(
                ("name",),
                "enterprise_name_form",
                f"only a limited company's name may contain 公司; this is {label}",
                self.name,
            )
        if self.kind != "individual_business" and self.registered_capital_cny <= 0:
            problems.add(
                ("registered_capital_cny",),
                "registered_capital",
                f"the registered capital (注册资本/出资额) of {label} must be above zero",
                _money_text(self.registered_capital_cny),
            )
        problems.raise_if_any("Enterprise")
        return self


class LegalRepresentative(_Model):
    """法定代表人 (for an individual business: 经营者)."""

    name: PersonName
    id_number: ResidentId
    phone: MobilePhone


class PersonShareholder(_Model):
    """A natural person investing (自然人股东)."""

    name: PersonName
    id_number: ResidentId
    contribution_cny: Money


class EnterpriseShareholder(_Model):
    """An enterprise investing (法人股东), known by its USCC."""

    name: EnterpriseName
    uscc: Uscc
    contribution_cny: Money


def _shareholder_tag(value: Any) -> str | None:
    if isinstance(value, PersonShareholder):
        return "person"
    if isinstance(value, EnterpriseShareholder):
        return "enterprise"
    if isinstance(value, dict):
        is_person, is_enterprise = "id_number" in value, "uscc" in value
        if is_person == is_enterprise:
            return None  # both or neither: the Discriminator's own error below
        return "person" if is_person else "enterprise"
    return "person"  # not an object at all: let the model say so


Shareholder = Annotated[
    Annotated[PersonShareholder, Tag("person")] | Annotated[EnterpriseShareholder, Tag("enterprise")],
    Discriminator(
        _shareholder_tag,
        custom_error_type="shareholder_kind",
        custom_error_message=(
            "a shareholder is either a person with id_number (居民身份证号码) or an enterprise "
            "with uscc (统一社会信用代码): give exactly one of the two"
        ),
    ),
]


class InvoiceRequest(_Model):
    """First invoice issuance (发票初次申领)."""

    kind: InvoiceKind
    monthly_quota: int = Field(ge=1, le=1000)


class EmployeesRegistration(_Model):
    """员工参保登记 / 住房公积金缴存登记: the employees to register at the start."""

    employees: int = Field(ge=1, le=10000, description="how many employees to register, 1 to 10000")


def _check_bank(bank: str) -> str:
    if bank not in ANYANG_BANKS:
        raise _error("bank_unknown", f"not a bank with branches in Anyang; one of: {', '.join(ANYANG_BANKS)}")
    return bank


def _bank_schema(schema: dict[str, Any]) -> None:
    schema["properties"]["bank"]["enum"] = list(ANYANG_BANKS)


class BankAccountRequest(_Model):
    """银行预约开户: an appointment to open the enterprise's basic account."""

    model_config = ConfigDict(json_schema_extra=_bank_schema)

    bank: Annotated[str, _text("a bank", 50), AfterValidator(_check_bank)] = Field(
        description="one of the banks with branches in Anyang (domain/banks.py)", examples=["中国建设银行"]
    )
    branch: Annotated[str, _text("a branch", 50)] | None = Field(
        default=None, description="one of the bank's Anyang branches; the bank's main branch if left out"
    )

    @model_validator(mode="after")
    def _branch_of_the_bank(self) -> Self:
        if self.branch is not None:
            branches = [b.name for b in ANYANG_BANKS[self.bank]]
            if self.branch not in branches:
                problems = _Problems()
                problems.add(
                    ("branch",),
                    "bank_branch_unknown",
                    f"not a branch of {self.bank} in Anyang; one of: {', '.join(branches)}",
                    self.branch,
                )
                problems.raise_if_any("BankAccountRequest")
        return self


class PostalDelivery(_Model):
    """Postal delivery (免费寄递): the whole address is required."""

    method: Literal["postal"]
    recipient: PersonName
    phone: MobilePhone
    district_code: DistrictCode
    address: Address
    inbound_materials: bool = Field(
        default=False,
        strict=True,
        description="a prepaid inbound waybill for the applicant's materials (双向寄递)",
    )


class PickupDelivery(_Model):
    """Pickup at the district's service centre: no address needed, and no inbound materials (those
    are mailed only with a postal delivery). Any part of an address that is given must be valid."""

    method: Literal["pickup"]
    recipient: PersonName | None = None
    phone: MobilePhone | None = None
    district_code: DistrictCode | None = None
    address: Address | None = None
    inbound_materials: Literal[False] = Field(
        default=False, description="always false: inbound materials are mailed only with a postal delivery"
    )


class Delivery(_Model):
    """Free postal delivery (免费寄递) of the licence and seals, or pickup at the centre.

    Its JSON schema is the ``oneOf`` of ``PostalDelivery`` and ``PickupDelivery`` (discriminated by
    ``method``); the validation is this model's own, with its own messages.
    """

    method: DeliveryMethod
    recipient: PersonName | None = None
    phone: MobilePhone | None = None
    district_code: DistrictCode | None = None
    address: Address | None = None
    inbound_materials: bool = Field(default=False, strict=True)
    """Postal only: a prepaid inbound waybill for the applicant's materials (双向寄递)."""

    @model_validator(mode="after")
    def _method_rules(self) -> Self:
        problems = _Problems()
        if self.method == "postal":
            needed = {
                "recipient": "a recipient (收件人)",
                "phone": "the recipient's mobile phone",
                "district_code": "the district (区县代码) of the address",
                "address": "an address (收件地址)",
            }
            for name, what in needed.items():
                if getattr(self, name) is None:
                    problems.add((name,), "delivery_field", f"a postal delivery needs {what}", None)
        elif self.inbound_materials:
            problems.add(
                ("inbound_materials",),
                "inbound_materials",
                "inbound materials (双向寄递) are mailed only with a postal delivery, not pickup",
                True,
            )
        problems.raise_if_any("Delivery")
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(_DELIVERY_FORMS.core_schema)
        schema["title"] = "Delivery"
        schema["description"] = (
            "Free postal delivery (免费寄递) of the licence and seals, or pickup at the service centre: "
            "a PostalDelivery or a PickupDelivery, told apart by `method`."
        )
        return schema


_DELIVERY_FORMS: TypeAdapter[PostalDelivery | PickupDelivery] = TypeAdapter(
    Annotated[PostalDelivery | PickupDelivery, Field(discriminator="method")]
)


def _check_shareholders(app: Application, problems: _Problems) -> None:
    """The shareholder rules that depend on the kind of enterprise."""
    enterprise = app.enterprise
    holders = app.shareholders
    label = KIND_LABELS[enterprise.kind]
    count = len(holders)

    if enterprise.kind == "limited_company":
        if count == 0:
            problems.add(
                ("shareholders",),
                "shareholders_count",
                f"{label} needs at least one shareholder",
                [],
            )
        elif count > MAX_LIMITED_COMPANY_SHAREHOLDERS:
            problems.add(
                ("shareholders",),
                "shareholders_count",
                f"{label} has at most {MAX_LIMITED_COMPANY_SHAREHOLDERS} shareholders (公司法), not {count}",
                count,
            )
        for index, holder in enumerate(holders):
            if holder.contribution_cny <= 0:
                problems.add(
                    ("shareholders", index, "contribution_cny"),
                    "contribution",
                    "a shareholder's contribution (认缴出资额) must be above zero",
                    _money_text(holder.contribution_cny),
                )
        total = sum((h.contribution_cny for h in holders), Decimal("0.00"))
        if count and total != enterprise.registered_capital_cny:
            problems.add(
                ("shareholders",),
                "contributions_total",
                "the shareholders' contributions add up to {total} yuan but the registered capital "
                "(enterprise.registered_capital_cny) is {capital} yuan; they must be equal",
                _money_text(total),
                total=_money_text(total),
                capital=_money_text(enterprise.registered_capital_cny),
            )
    elif enterprise.kind == "sole_proprietorship":
        if count != 1:
            problems.add(
                ("shareholders",),
                "shareholders_count",
                f"{label} has exactly one investor, a natural person; found {count}",
                count,
            )
        elif not isinstance(holders[0], PersonShareholder):
            problems.add(
                ("shareholders", 0),
                "investor_kind",
                f"the investor of {label} is a natural person with id_number, not an enterprise",
                holders[0].name,
            )
    elif enterprise.kind == "partnership":
        if count < 2:
            problems.add(
                ("shareholders",),
                "shareholders_count",
                f"{label} needs two or more partners; found {count}",
                count,
            )
    elif count:
        problems.add(
            ("shareholders",),
            "shareholders_count",
            f"{label} has no shareholders: give an empty list []",
            count,
        )

    # The same investor listed twice is a typing error, whatever the kind.
    first_seen: dict[str, int] = {}
    for index, holder in enumerate(holders):
        key, field = (
            (holder.id_number, "id_number")
            if isinstance(holder, PersonShareholder)
            else (holder.uscc, "uscc")
        )
        if key in first_seen:
            problems.add(
                ("shareholders", index, field),
                "shareholder_repeated",
                "this investor is already listed as shareholders.{first}",
                key,
                first=first_seen[key],
            )
        else:
            first_seen[key] = index


_SHAREHOLDERS_BY_KIND: dict[str, dict[str, Any]] = {
    "limited_company": {"minItems": 1, "maxItems": MAX_LIMITED_COMPANY_SHAREHOLDERS},
    "sole_proprietorship": {"minItems": 1, "maxItems": 1, "items": {"required": ["id_number"]}},
    "partnership": {"minItems": 2},
    "individual_business": {"maxItems": 0},
}
SHAREHOLDERS_RULE = (
    "a limited company has 1 to 50 shareholders whose contributions (each above zero) add up to the "
    "registered capital; a sole proprietorship exactly one natural person; a partnership two or more "
    "partners; an individual business none ([]). The same investor (id_number or uscc) is listed once."
)


def _application_schema(schema: dict[str, Any]) -> None:
    """The shareholders each kind of enterprise takes (the sums and repeats are beyond a schema)."""
    schema["allOf"] = [
        {
            "if": {
                "properties": {"enterprise": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}},
                "required": ["enterprise"],
            },
            "then": {"properties": {"shareholders": rule}},
        }
        for kind, rule in _SHAREHOLDERS_BY_KIND.items()
    ]


class Application(_Model):
    """One application, one set of materials (一窗受理、一网通办)."""

    model_config = ConfigDict(json_schema_extra=_application_schema)

    application_id: ApplicationId
    enterprise: Enterprise
    legal_representative: LegalRepresentative
    shareholders: Annotated[list[Shareholder], Field(max_length=200, description=SHAREHOLDERS_RULE)]
    seals: Annotated[
        list[SealKind],
        Field(
            description="the seals to carve (刻章), each once; the official seal (公章) always",
            json_schema_extra={
                "minItems": 1,
                "maxItems": 5,
                "uniqueItems": True,
                "contains": {"const": "official"},
            },
        ),
        AfterValidator(_check_seals),
    ]
    invoice: InvoiceRequest | None = None
    # The rest of the 企业开办 scope, each optional (absent: its stage is skipped).
    social_insurance: EmployeesRegistration | None = Field(default=None, description="员工参保登记")
    housing_fund: EmployeesRegistration | None = Field(default=None, description="住房公积金缴存登记")
    bank_account: BankAccountRequest | None = Field(default=None, description="银行预约开户")
    delivery: Delivery

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        problems = _Problems()
        _check_shareholders(self, problems)
        problems.raise_if_any("Application")
        return self

    def canonical_json(self) -> str:
        """The normalised application as JSON with sorted keys; the basis of ``fingerprint``."""
        return json.dumps(
            self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )

    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON: equal applications have equal fingerprints."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


SUPPLEMENT_PARTS = ("enterprise", "legal_representative", "shareholders")


def _supplement_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": [part], "properties": {part: {"not": {"type": "null"}}}} for part in SUPPLEMENT_PARTS
    ]


class Supplement(_Model):
    """Corrected materials (补正材料): the parts given replace those of the application, and the result
    is checked as a whole application. At least one of the three parts, not null."""

    model_config = ConfigDict(json_schema_extra=_supplement_schema)

    enterprise: Enterprise | None = None
    legal_representative: LegalRepresentative | None = None
    shareholders: (
        Annotated[list[Shareholder], Field(max_length=200, description=SHAREHOLDERS_RULE)] | None
    ) = None

    @model_validator(mode="after")
    def _something_supplied(self) -> Self:
        if all(getattr(self, part) is None for part in SUPPLEMENT_PARTS):
            raise _error(
                "supplement_empty",
                "a supplement gives at least one of enterprise, legal_representative, shareholders",
            )
        return self

    def parts(self) -> dict[str, Any]:
        """The supplied parts as JSON values, by name."""
        dumped = self.model_dump(mode="json")
        return {part: dumped[part] for part in SUPPLEMENT_PARTS if getattr(self, part) is not None}


def parse_application(data: object) -> Application:
    """Validate and normalise a portal body (a decoded JSON value, or its raw bytes).

    Raises ``ApplicationInvalid`` listing every problem found, each at its dotted path.
    """
    return validated(Application, _decoded(data))


def parse_delivery(data: object) -> Delivery:
    """Validate a changed ``delivery`` (``PUT /v1/applications/{id}/delivery``)."""
    return validated(Delivery, _decoded(data))


def parse_supplement(data: object) -> Supplement:
    """Validate corrected parts (``POST /v1/applications/{id}/supplement``)."""
    return validated(Supplement, _decoded(data))


def apply_supplement(app: Application, body: object) -> Application:
    """Replace the supplied parts of ``app`` and validate the result like a new application."""
    supplement = parse_supplement(body)
    data = app.model_dump(mode="json")
    data.update(supplement.parts())
    return parse_application(data)


def _decoded(data: object) -> object:
    """Raw bytes decoded as JSON (``ApplicationInvalid`` if they are not); anything else as it is."""
    return decode_json_body(data) if isinstance(data, bytes | bytearray) else data
