"""The identifiers the service handles, and their check digits where they have one.

- application id 申请编号, assigned by the portal (``APPLICATION_ID_PATTERN``)
- USCC 统一社会信用代码 (GB 32100-2015)
- resident ID number 居民身份证号码 (GB 11643-1999, ISO 7064 MOD 11-2)
- postal item number (UPU S10, China Post EMS)
"""

from __future__ import annotations

import re
from datetime import date

# The portal's application id (申请编号), e.g. ``AY20261127-0001``: 6 to 64 of A-Z, a-z, 0-9 and '-'.
# Anchored, so that it can stand as a JSON Schema / pydantic ``pattern`` as it is; in Python ask
# ``is_application_id`` (``re.match`` with ``$`` would let a trailing newline through).
APPLICATION_ID_PATTERN = r"^[A-Za-z0-9-]{6,64}$"
APPLICATION_ID_RULE = "an application id is 6 to 64 characters from A-Z, a-z, 0-9 and '-'"
_APPLICATION_ID = re.compile(APPLICATION_ID_PATTERN, re.ASCII)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def is_application_id(value: object) -> bool:
    """Whether ``value`` is a string that can be an application id (``APPLICATION_ID_PATTERN``)."""
    return isinstance(value, str) and _APPLICATION_ID.fullmatch(value) is not None


def uscc_check_char(first17: str) -> str:
    """The 18th character of a USCC whose first 17 are given (upper case)."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise ValueError("a USCC body is 17 characters from 0-9 and A-Y without I, O, S, V, Z")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    check = 31 - total % 31
    return USCC_ALPHABET[0 if check == 31 else check]


def uscc_problem(value: str) -> str | None:
    """None for a valid USCC, else what is wrong with it."""
    if len(value) != 18:
        return f"a USCC has 18 characters, not {len(value)}"
    bad = sorted({c for c in value if c not in USCC_ALPHABET})
    if bad:
        return f"a USCC uses 0-9 and A-Y without I, O, S, V, Z; found {''.join(bad)!r}"
    if uscc_check_char(value[:17]) != value[17]:
        return "the USCC's check character is wrong"
    return None


def is_valid_uscc(value: str) -> bool:
    return uscc_problem(value) is None


def resident_id_check_char(first17: str) -> str:
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("a resident ID body is 17 digits")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def resident_id_problem(value: str) -> str | None:
    """None for a valid 18-character resident ID (upper-case X), else what is wrong."""
    if len(value) != 18:
        return f"a resident ID number has 18 characters, not {len(value)}"
    if not (value[:17].isascii() and value[:17].isdigit()) or value[17] not in "0123456789X":
        return "a resident ID number is 17 digits followed by a digit or X"
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return f"the birth date {value[6:14]} in the ID number does not exist"
    if birth.year < 1900:
        return f"the birth date {value[6:14]} in the ID number is implausible"
    if resident_id_check_char(value[:17]) != value[17]:
        return "the ID number's check digit is wrong"
    return None


def is_valid_resident_id(value: str) -> bool:
    return resident_id_problem(value) is None


def s10_check_digit(serial8: str) -> str:
    if len(serial8) != 8 or not serial8.isascii() or not serial8.isdigit():
        raise ValueError("an S10 serial is 8 digits")
    c = 11 - sum(int(d) * w for d, w in zip(serial8, _S10_WEIGHTS, strict=True)) % 11
    return "0" if c == 10 else "5" if c == 11 else str(c)


def s10_problem(value: str) -> str | None:
    """None for a valid UPU S10 item number like ``EA12345678?CN``."""
    if len(value) != 13:
        return f"a postal item number has 13 characters, not {len(value)}"
    if not (value[:2].isascii() and value[:2].isalpha() and value[:2].isupper()):
        return "a postal item number starts with two capital letters"
    if not (value[11:].isascii() and value[11:].isalpha() and value[11:].isupper()):
        return "a postal item number ends with a two-letter country code"
    if not (value[2:11].isascii() and value[2:11].isdigit()):
        return "a postal item number has 9 digits between its letters"
    if s10_check_digit(value[2:10]) != value[10]:
        return "the postal item number's check digit is wrong"
    return None


def is_valid_s10(value: str) -> bool:
    return s10_problem(value) is None
