"""The banks an enterprise can book its basic account (基本存款账户) with in Anyang, and their branches.

The list the application's ``bank_account`` part is checked against (README) and that the bank
partner serves (``GET /bank/v1/banks``). Bank names are written as people write them on forms and
signs (the short names: 中国工商银行, 浦发银行 rather than 上海浦东发展银行); a branch's name is the
part after the bank's (中国建设银行 **安阳分行**). Each bank's first branch is its main branch in
Anyang, where an appointment naming no branch goes.

Local banking in Anyang: 中原银行 took over the city's commercial bank (安阳银行) when it was formed
from thirteen Henan city commercial banks in 2014, so there is no 安阳银行 any more; its offices are
中原银行 branches. 安阳农商银行 is the city's rural commercial bank (the former rural credit
cooperatives), headquartered in Anyang, so its main office is its 营业部 rather than a 分行.

The addresses are the project's (plausible streets of Anyang), not a directory to navigate by.

Dependency-free but for pydantic: application validation imports it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Branch(BaseModel):
    """A bank's branch (分行 / 支行 / 营业部) in Anyang."""

    model_config = ConfigDict(frozen=True)

    name: str
    """As written after the bank's name: 安阳分行, 文峰支行, 汤阴县支行."""
    district_code: str
    """The division (GB/T 2260) the branch is in: one of Anyang's."""
    address: str


def _b(name: str, district_code: str, address: str) -> Branch:
    return Branch(name=name, district_code=district_code, address=address)


ANYANG_BANKS: dict[str, list[Branch]] = {
    "中国工商银行": [
        _b("安阳分行", "410502", "安阳市文峰区文峰大道中段268号"),
        _b("文峰支行", "410502", "安阳市文峰区中华路南段116号"),
        _b("林州支行", "410581", "林州市红旗渠大道中段88号"),
    ],
    "中国农业银行": [
        _b("安阳分行", "410502", "安阳市文峰区人民大道东段55号"),
        _b("北关支行", "410503", "安阳市北关区红旗路中段201号"),
        _b("汤阴县支行", "410523", "汤阴县人民路中段36号"),
    ],
    "中国银行": [
        _b("安阳分行", "410502", "安阳市文峰区文峰大道东段129号"),
        _b("殷都支行", "410505", "安阳市殷都区铁西路中段18号"),
    ],
    "中国建设银行": [
        _b("安阳分行", "410503", "安阳市北关区红旗路北段68号"),
        _b("文峰支行", "410502", "安阳市文峰区德隆街中段22号"),
        _b("龙安支行", "410506", "安阳市龙安区文明大道西段309号"),
    ],
    "交通银行": [
        _b("安阳分行", "410502", "安阳市文峰区中华路中段158号"),
    ],
    "中国邮政储蓄银行": [
        _b("安阳市分行", "410502", "安阳市文峰区解放大道中段77号"),
        _b("林州市支行", "410581", "林州市红旗渠大道东段152号"),
    ],
    "中信银行": [
        _b("安阳分行", "410502", "安阳市文峰区文峰大道东段369号"),
    ],
    "浦发银行": [
        _b("安阳分行", "410502", "安阳市文峰区紫薇大道中段66号"),
    ],
    "郑州银行": [
        _b("安阳分行", "410502", "安阳市文峰区光明路中段98号"),
    ],
    "中原银行": [
        _b("安阳分行", "410502", "安阳市文峰区文明大道东段216号"),
        _b("北关支行", "410503", "安阳市北关区洹滨北路12号"),
        _b("滑县支行", "410526", "滑县道口镇文明路中段45号"),
    ],
    "安阳农商银行": [
        _b("营业部", "410502", "安阳市文峰区永明路中段81号"),
        _b("殷都支行", "410505", "安阳市殷都区殷都路南段57号"),
        _b("内黄支行", "410527", "内黄县繁阳路中段30号"),
    ],
}


def is_known_bank(name: str) -> bool:
    """Whether ``name`` is one of the banks in Anyang, written exactly as in ``ANYANG_BANKS``."""
    return name in ANYANG_BANKS


def main_branch(bank: str) -> Branch:
    """The bank's main branch in Anyang (where an appointment naming no branch goes); KeyError for a
    bank not in the list."""
    return ANYANG_BANKS[bank][0]


def branch_of(bank: str, branch_name: str | None) -> Branch | None:
    """The bank's branch of that name, its main branch for None; None when the bank is not in the list
    or has no such branch in Anyang."""
    branches = ANYANG_BANKS.get(bank)
    if not branches:
        return None
    if branch_name is None:
        return branches[0]
    return next((b for b in branches if b.name == branch_name), None)


def branch_names(bank: str) -> list[str]:
    """The names of the bank's branches, main branch first; empty for a bank not in the list."""
    return [b.name for b in ANYANG_BANKS.get(bank, [])]
