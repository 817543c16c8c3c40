"""Hypothesis strategies for applications the gateway must accept: every kind of enterprise, both
delivery methods, identifiers right to their check digits, contributions that add up.

``tests.factories`` makes one valid application; these make many different ones, for the fuzzing of
the HTTP API (``test_openapi_fuzz``) to submit next to the hostile requests schemathesis invents.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import strategies as st

from domain.districts import ANYANG_DISTRICTS
from domain.identifiers import USCC_ALPHABET, resident_id_check_char, uscc_check_char

DISTRICTS = sorted(ANYANG_DISTRICTS)
SURNAMES = "张王李赵刘陈杨黄周吴"
GIVEN = "艳鹏秀兰建国晓明丽华志强"
TRADES = ["餐饮服务", "食品销售", "软件开发", "技术咨询", "日用百货销售", "早餐服务", "服装零售"]
WORDS = "晨曦恒达鑫源宏图瑞丰"
SEALS_BESIDES_OFFICIAL = ["financial", "invoice", "contract", "legal_representative"]


def application_ids(prefix: str = "FZ") -> st.SearchStrategy[str]:
    return st.from_regex(rf"\A{prefix}[0-9]{{8}}-[0-9]{{4}}\Z")


@st.composite
def resident_ids(draw: st.DrawFn, area: str = "410502") -> str:
    birth = draw(st.dates(min_value=date(1950, 1, 1), max_value=date(2005, 12, 31)))
    body = f"{area}{birth:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + resident_id_check_char(body)


@st.composite
def usccs(draw: st.DrawFn, district: str) -> str:
    body = "91" + district + "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=9, max_size=9)))
    return body + uscc_check_char(body)


def person_names() -> st.SearchStrategy[str]:
    return st.builds(
        lambda s, g: s + g, st.sampled_from(SURNAMES), st.text(alphabet=GIVEN, min_size=1, max_size=2)
    )


def mobiles() -> st.SearchStrategy[str]:
    return st.from_regex(r"\A1[3-9][0-9]{9}\Z")


def _split(total_fen: int, parts: int, cuts: list[int]) -> list[Decimal]:
    """``total_fen`` split into ``parts`` amounts above zero, in yuan."""
    points = sorted({c % (total_fen - 1) + 1 for c in cuts})[: parts - 1]
    while len(points) < parts - 1:  # too few distinct cuts: take the first free ones
        points = sorted(set(points) | {next(p for p in range(1, total_fen) if p not in points)})
    edges = [0, *points, total_fen]
    return [Decimal(b - a) / 100 for a, b in pairwise(edges)]


@st.composite
def deliveries(draw: st.DrawFn, district: str) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"method": "pickup"}
    return {
        "method": "postal",
        "recipient": draw(person_names()),
        "phone": draw(mobiles()),
        "district_code": draw(st.sampled_from(DISTRICTS)),
        "address": f"{ANYANG_DISTRICTS[district]}文明大道{draw(st.integers(1, 999))}号",
        "inbound_materials": draw(st.booleans()),
    }


@st.composite
def applications(draw: st.DrawFn, prefix: str = "FZ") -> dict[str, Any]:
    """A valid application (``domain.application.parse_application`` accepts every one)."""
    district = draw(st.sampled_from(DISTRICTS))
    kind = draw(
        st.sampled_from(["limited_company", "sole_proprietorship", "partnership", "individual_business"])
    )
    word = "".join(draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=4)))
    trade = draw(st.sampled_from(TRADES))
    representative = {
        "name": draw(person_names()),
        "id_number": draw(resident_ids(district)),
        "phone": draw(mobiles()),
    }
    capital_fen = draw(st.integers(min_value=100, max_value=10**10))
    shareholders: list[dict[str, Any]] = []
    if kind == "individual_business":
        name = f"安阳市{word}{trade[:2]}店"
        capital_fen = 0
    elif kind == "sole_proprietorship":
        name = f"安阳市{word}{trade[:2]}中心"
        shareholders = [{**representative, "contribution_cny": f"{Decimal(capital_fen) / 100:.2f}"}]
        shareholders[0].pop("phone")
    else:
        name = (
            f"安阳市{word}{trade[:2]}有限公司"
            if kind == "limited_company"
            else f"安阳市{word}{trade[:2]}合伙企业"
        )
        count = draw(st.integers(min_value=2 if kind == "partnership" else 1, max_value=4))
        capital_fen = max(capital_fen, count)
        amounts = _split(
            capital_fen, count, draw(st.lists(st.integers(0, 10**12), min_size=count, max_size=count))
        )
        for index, amount in enumerate(amounts):
            holder: dict[str, Any]
            if index % 2 == 0:
                holder = {"name": draw(person_names()), "id_number": draw(resident_ids(district))}
            else:
                holder = {"name": f"安阳市{word}投资有限公司", "uscc": draw(usccs(district))}
            holder["contribution_cny"] = f"{amount:.2f}"
            shareholders.append(holder)
        # Each investor once: a repeat of a drawn id (unlikely) is dropped, its share moved.
        seen: set[str] = set()
        unique: list[dict[str, Any]] = []
        for holder in shareholders:
            key = holder.get("id_number") or holder["uscc"]
            if key in seen:
                unique[0]["contribution_cny"] = (
                    f"{Decimal(unique[0]['contribution_cny']) + Decimal(holder['contribution_cny']):.2f}"
                )
                continue
            seen.add(key)
            unique.append(holder)
        shareholders = unique
        if kind == "partnership" and len(shareholders) < 2:
            shareholders.append(
                {"name": "安阳市第二投资有限公司", "uscc": draw(usccs(district)), "contribution_cny": "0.01"}
            )
            capital_fen += 1
    seals = ["official", *draw(st.lists(st.sampled_from(SEALS_BESIDES_OFFICIAL), unique=True))]
    body: dict[str, Any] = {
        "application_id": draw(application_ids(prefix)),
        "enterprise": {
            "name": name,
            "kind": kind,
            "registered_capital_cny": f"{Decimal(capital_fen) / 100:.2f}",
            "business_scope": draw(st.lists(st.sampled_from(TRADES), min_size=1, max_size=3, unique=True)),
            "district_code": district,
            "address": f"{ANYANG_DISTRICTS[district]}中华路{draw(st.integers(1, 999))}号",
        },
        "legal_representative": representative,
        "shareholders": shareholders,
        "seals": seals,
        "delivery": draw(deliveries(district)),
    }
    if draw(st.booleans()):
        body["invoice"] = {
            "kind": draw(st.sampled_from(["electronic_general", "electronic_special"])),
            "monthly_quota": draw(st.integers(1, 1000)),
        }
    return body
