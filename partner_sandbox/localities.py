"""Names of the local offices and shops of Anyang's districts, as the partners print them."""

from __future__ import annotations

from domain.districts import ANYANG_DISTRICTS


def local_name(district_code: str) -> str:
    """安阳市文峰区 for the city's districts; 汤阴县, 林州市 for its counties and county-level city."""
    name = ANYANG_DISTRICTS[district_code]
    return f"安阳市{name}" if name.endswith("区") else name


def registration_authority(district_code: str) -> str:
    return f"{local_name(district_code)}市场监督管理局"


def tax_authority(district_code: str) -> str:
    return f"国家税务总局{local_name(district_code)}税务局"


def seal_shop(district_code: str) -> tuple[str, str]:
    """The district's licensed seal shop: (shop id, shop name)."""
    return f"SHOP-{district_code}-01", f"{local_name(district_code)}诚信刻章店"


def service_centre(district_code: str) -> str:
    return f"{local_name(district_code)}政务服务中心"


def district_of_uscc(uscc: str) -> str | None:
    """The registering authority's division (characters 3–8), if it is one of Anyang's."""
    code = uscc[2:8]
    return code if code in ANYANG_DISTRICTS else None
