"""Check digits of the USCC, the resident ID number and the UPU S10 postal item number."""

from __future__ import annotations

import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import parse_application
from domain.identifiers import (
    USCC_ALPHABET,
    is_valid_resident_id,
    is_valid_s10,
    is_valid_uscc,
    resident_id_check_char,
    resident_id_problem,
    s10_check_digit,
    s10_problem,
    uscc_problem,
)
from tests.domain import sample_application
from tests.factories import resident_id, resident_id_ending_in_x, uscc

# Every character a mistyped identifier could plausibly contain.
TYPABLE = string.ascii_letters + string.digits + " -xX"

uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)
valid_usccs = uscc_bodies.map(lambda body: uscc(body[2:8], org=body[8:], kind=body[:2]))


@st.composite
def valid_resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.text(alphabet=string.digits, min_size=6, max_size=6))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    serial = draw(st.integers(min_value=0, max_value=999))
    return resident_id(region, birth=f"{born:%Y%m%d}", serial=f"{serial:03d}")


@st.composite
def valid_s10s(draw: st.DrawFn) -> str:
    service = draw(st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2))
    serial = draw(st.text(alphabet=string.digits, min_size=8, max_size=8))
    country = draw(st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2))
    return f"{service}{serial}{s10_check_digit(serial)}{country}"


def substitute(value: str, index: int, char: str) -> str:
    return value[:index] + char + value[index + 1 :]


# --- known real-world examples ------------------------------------------------------------


def test_known_real_world_identifiers_are_valid() -> None:
    assert uscc_problem("91350100M000100Y43") is None
    assert resident_id_problem("11010519491231002X") is None
    assert s10_problem("RR473124829GB") is None


def test_known_real_world_identifiers_with_a_typo_are_refused() -> None:
    assert not is_valid_uscc("91350100M000100Y44")
    assert not is_valid_resident_id("110105194912310021")
    assert not is_valid_s10("RR473124828GB")


# --- USCC (统一社会信用代码) --------------------------------------------------------------


@given(valid_usccs)
def test_a_generated_uscc_validates(value: str) -> None:
    assert uscc_problem(value) is None


@settings(max_examples=300)
@given(valid_usccs, st.integers(min_value=0, max_value=17), st.sampled_from(TYPABLE))
def test_every_single_substitution_in_a_uscc_is_refused(value: str, index: int, char: str) -> None:
    # 31 is prime and no weight is a multiple of it, so a changed character always changes
    # the check: not one single substitution slips through.
    if value[index] == char:
        return
    assert uscc_problem(substitute(value, index, char)) is not None


def test_every_substitution_of_one_uscc_is_refused_exhaustively() -> None:
    value = uscc("410502", org="MA0000001")
    for index in range(18):
        for char in USCC_ALPHABET:
            if char != value[index]:
                assert not is_valid_uscc(substitute(value, index, char)), (index, char)


@pytest.mark.parametrize("value", ["91410502MA000000", "91410502MA0000001FF", "91410502MI0000001F"])
def test_a_uscc_of_wrong_length_or_letters_is_refused(value: str) -> None:
    assert uscc_problem(value) is not None


# --- resident ID number (居民身份证号码) ---------------------------------------------------


@given(valid_resident_ids())
def test_a_generated_resident_id_validates(value: str) -> None:
    assert resident_id_problem(value) is None


@settings(max_examples=300)
@given(valid_resident_ids(), st.integers(min_value=0, max_value=17), st.sampled_from(TYPABLE))
def test_every_single_substitution_in_a_resident_id_is_refused(value: str, index: int, char: str) -> None:
    if value[index] == char:
        return
    assert resident_id_problem(substitute(value, index, char)) is not None


@pytest.mark.parametrize(
    "birth",
    ["19490230", "19000229", "20230229", "19491301", "19490000", "19490100", "19490431"],
)
def test_an_id_whose_birth_date_does_not_exist_is_refused(birth: str) -> None:
    number = resident_id("410502", birth=birth, serial="001")  # a correct check digit: only the date is wrong
    problem = resident_id_problem(number)
    assert problem is not None
    assert birth in problem


def test_an_id_born_on_a_leap_day_is_accepted() -> None:
    assert resident_id_problem(resident_id("410502", birth="20000229", serial="001")) is None


def test_the_check_character_x_is_upper_case_in_the_identifier_module() -> None:
    number = resident_id_ending_in_x()
    assert resident_id_check_char(number[:17]) == "X"
    assert resident_id_problem(number) is None
    assert resident_id_problem(number[:17] + "x") is not None


def test_a_lower_case_x_is_read_as_upper_case_in_an_application() -> None:
    number = resident_id_ending_in_x()
    body = sample_application()
    body["legal_representative"]["id_number"] = number[:17] + "x"
    body["shareholders"][0]["id_number"] = number[:17] + "x"

    app = parse_application(body)

    assert app.legal_representative.id_number == number
    assert app.shareholders[0].model_dump()["id_number"] == number


# --- UPU S10 postal item number (EMS 邮件号) ----------------------------------------------


@given(valid_s10s())
def test_a_generated_s10_validates(value: str) -> None:
    assert s10_problem(value) is None


@given(valid_s10s(), st.sampled_from(string.digits))
def test_a_changed_s10_check_digit_is_refused(value: str, digit: str) -> None:
    if value[10] == digit:
        return
    assert s10_problem(substitute(value, 10, digit)) is not None


@settings(max_examples=300)
@given(valid_s10s(), st.integers(min_value=2, max_value=9), st.sampled_from(string.digits))
def test_a_changed_s10_serial_digit_is_refused_unless_the_check_collides(
    value: str, index: int, digit: str
) -> None:
    # S10 maps remainders 0 and 6 to the same check digit 5, so unlike the USCC and the ID
    # number it cannot catch every substitution; it catches all the others.
    if value[index] == digit:
        return
    changed = substitute(value, index, digit)
    collides = s10_check_digit(changed[2:10]) == value[10]
    assert (s10_problem(changed) is None) == collides


def test_the_s10_blind_spot_exists() -> None:
    # Serials whose weighted sums leave 0 and 6 (mod 11) share the check digit 5.
    assert s10_check_digit("00000000") == "5"  # sum 0
    assert s10_check_digit("00000004") == "5"  # sum 4 x 7 = 28, which leaves 6
    assert s10_problem("EA000000005CN") is None
    assert s10_problem("EA000000045CN") is None  # one digit changed, still "valid"
