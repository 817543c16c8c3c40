"""The city the service works for, Anyang (安阳市): its clock, and the county-level divisions
(GB/T 2260) that the service covers."""

from __future__ import annotations

from zoneinfo import ZoneInfo

# The city's clock (Beijing time, UTC+08:00, no daylight saving): the SLA policy's default time
# zone, the subsidy ledger's budget years and report months, the times on documents and screens.
CITY_ZONE_NAME = "Asia/Shanghai"
CITY_ZONE = ZoneInfo(CITY_ZONE_NAME)

ANYANG_DISTRICTS: dict[str, str] = {
    "410502": "文峰区",
    "410503": "北关区",
    "410505": "殷都区",
    "410506": "龙安区",
    "410522": "安阳县",
    "410523": "汤阴县",
    "410526": "滑县",
    "410527": "内黄县",
    "410581": "林州市",
}


def district_name(code: str) -> str:
    return ANYANG_DISTRICTS[code]


def local_name(code: str) -> str:
    """安阳市文峰区 for the city's districts; 汤阴县, 林州市 for its counties and county-level city:
    the district as the names of its offices begin."""
    name = ANYANG_DISTRICTS[code]
    return f"安阳市{name}" if name.endswith("区") else name
