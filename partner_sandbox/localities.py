"""Names of the local offices and shops of Anyang's districts, as the partners print them."""

from __future__ import annotations

from domain.districts import ANYANG_DISTRICTS, local_name


def registration_authority(district_code: str) -> str:
    return f"{local_name(district_code)}市场监督管理局"


def tax_authority(district_code: str) -> str:
    return f"国家税务总局{local_name(district_code)}税务局"


# The licensed seal shops (filed with public security) of every district, in the fixed order the
# seal-shop API lists them: the trade names after the district's name.
_SEAL_SHOP_NAMES = ("诚信刻章店", "永安印章服务部", "金石刻字社")


def seal_shops(district_code: str) -> list[tuple[str, str]]:
    """The district's licensed seal shops, first one first: (shop id, shop name) each."""
    local = local_name(district_code)
    return [(f"SHOP-{district_code}-{n:02d}", f"{local}{name}") for n, name in enumerate(_SEAL_SHOP_NAMES, 1)]


def seal_shop(district_code: str) -> tuple[str, str]:
    """The district's first licensed seal shop (where an order naming no shop goes): (id, name)."""
    return seal_shops(district_code)[0]


def district_of_uscc(uscc: str) -> str | None:
    """The registering authority's division (characters 3–8), if it is one of Anyang's."""
    code = uscc[2:8]
    return code if code in ANYANG_DISTRICTS else None


def social_insurance_bureau(district_code: str) -> str:
    """The district's human resources and social security bureau, which registers employers for social
    insurance (员工参保登记): 安阳市文峰区人力资源和社会保障局, 林州市人力资源和社会保障局."""
    return f"{local_name(district_code)}人力资源和社会保障局"


# The city's one housing provident fund centre; each district and county has a managing department.
HOUSING_FUND_CENTRE = "安阳市住房公积金管理中心"


def housing_fund_office(district_code: str) -> str:
    """The centre's managing department (管理部) for the district: 安阳市住房公积金管理中心文峰区管理部."""
    return f"{HOUSING_FUND_CENTRE}{ANYANG_DISTRICTS[district_code]}管理部"
