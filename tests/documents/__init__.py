"""Tests of the generated PDFs; below, one realistic input per document and the poppler tools."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from documents.models import (
    AcceptanceReceiptData,
    BusinessLicenceData,
    CompletionNoticeData,
    PostalParty,
    SealLine,
    StageTiming,
    StatementEntry,
    SubsidyStatementData,
    SubsidyVoucherData,
    WaybillLabelData,
)
from domain.application import parse_application
from domain.identifiers import s10_check_digit
from domain.partners import Licence
from domain.sla_policy import SlaPolicy
from tests.domain import SAMPLE
from tests.factories import uscc

CST = timezone(timedelta(hours=8))
APPLICATION_ID = "AY20261127-0001"
ENTERPRISE = "安阳市文峰区晨曦餐饮有限公司"
USCC = uscc("410502", org="MA12345H7")
WAYBILL_NO = f"EA12345678{s10_check_digit('12345678')}CN"
ACCEPTED = datetime(2026, 11, 27, 9, 30, tzinfo=CST)
GENERATED = datetime(2026, 11, 27, 16, 5, 12, tzinfo=CST)
CENTRE = PostalParty(
    name="安阳市文峰区政务服务中心", phone="0372-5100000", district_code="410502", address="中华路1号"
)
APPLICANT = PostalParty(
    name="张艳鹏", phone="13803720000", district_code="410502", address="文峰区文明大道100号"
)

POPPLER_MISSING = (
    "{tool} (Debian poppler-utils) is not installed; the document tests read and rasterise the PDFs with it. "
    "Run `make system` (as root it installs it; otherwise it says the apt-get command)"
)


def poppler(tool: str, *args: str | Path) -> str:
    """Run a poppler tool; fail (never skip) with the fix when it is not installed."""
    if shutil.which(tool) is None:
        pytest.fail(POPPLER_MISSING.format(tool=tool), pytrace=False)
    done = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{tool} {' '.join(map(str, args))} failed: {done.stderr}"
    return done.stdout


def pdf_text(pdf: bytes, tmp_path: Path, name: str = "doc") -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return poppler("pdftotext", "-layout", "-enc", "UTF-8", path, "-")


def receipt() -> AcceptanceReceiptData:
    application = parse_application(SAMPLE)
    return AcceptanceReceiptData.from_application(
        application,
        workflow_id=f"setup-{APPLICATION_ID}",
        accepted_at=ACCEPTED,
        generated_at=GENERATED,
        policy=SlaPolicy(),
        deadlines={"registration": ACCEPTED + timedelta(hours=4)},
    )


def licence() -> BusinessLicenceData:
    return BusinessLicenceData(
        application_id=APPLICATION_ID,
        generated_at=GENERATED,
        licence=Licence(
            filing_id="REG-20261127-000123",
            uscc=USCC,
            name=ENTERPRISE,
            kind="limited_company",
            registered_capital_cny=Decimal("500000.00"),
            legal_representative="张艳鹏",
            address="文峰区文明大道100号",
            business_scope=["餐饮服务", "食品销售", "酒类经营", "外卖递送服务"],
            district_code="410502",
            issued_at=datetime(2026, 11, 27, 11, 2, tzinfo=CST),
            authority="安阳市文峰区市场监督管理局",
        ),
    )


def voucher() -> SubsidyVoucherData:
    return SubsidyVoucherData(
        application_id=APPLICATION_ID,
        generated_at=GENERATED,
        grant_id="SG-2026-000042",
        enterprise_name=ENTERPRISE,
        uscc=USCC,
        shop_id="SHOP-410502-01",
        shop_name="安阳市文峰区诚信刻章店",
        order_id="SO-000017",
        seals=[
            SealLine(kind="official", price_cny=Decimal("200.00"), paid_by="city"),
            SealLine(kind="financial", price_cny=Decimal("160.00"), paid_by="city"),
            SealLine(kind="invoice", price_cny=Decimal("160.00"), paid_by="city"),
            SealLine(kind="legal_representative", price_cny=Decimal("120.00"), paid_by="city"),
            SealLine(kind="contract", price_cny=Decimal("160.00"), paid_by="enterprise"),
        ],
        city_pays_cny=Decimal("640.00"),
        enterprise_pays_cny=Decimal("160.00"),
        granted_at=datetime(2026, 11, 27, 11, 10, tzinfo=CST),
    )


def waybill(direction: str = "outbound") -> WaybillLabelData:
    outbound = direction == "outbound"
    return WaybillLabelData(
        application_id=APPLICATION_ID,
        generated_at=GENERATED,
        waybill_no=WAYBILL_NO,
        direction="outbound" if outbound else "inbound",
        sender=CENTRE if outbound else APPLICANT,
        recipient=APPLICANT if outbound else CENTRE,
        contents=["营业执照", "印章 5 枚"] if outbound else ["企业开办纸质申请材料"],
        booked_at=datetime(2026, 11, 27, 15, 40, tzinfo=CST),
    )


def notice() -> CompletionNoticeData:
    def at(hour: int, minute: int, *, day: int = 27) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=CST)

    def done(
        stage: str, limit: str, *, started: datetime, finished: datetime, deadline: datetime
    ) -> StageTiming:
        return StageTiming(
            stage=stage,
            state="done",
            limit=limit,
            started_at=started,
            finished_at=finished,
            deadline=deadline,
        )

    return CompletionNoticeData(
        application_id=APPLICATION_ID,
        generated_at=GENERATED,
        workflow_id=f"setup-{APPLICATION_ID}",
        enterprise_name=ENTERPRISE,
        uscc=USCC,
        accepted_at=ACCEPTED,
        completed_at=at(16, 0),
        stages=[
            done("registration", "4h", started=at(9, 30), finished=at(11, 2), deadline=at(14, 30)),
            done("seal_carving", "2h", started=at(11, 5), finished=at(15, 20), deadline=at(14, 5)),
            done("invoice", "1h", started=at(11, 5), finished=at(11, 40), deadline=at(13, 5)),
            done("overall", "7h", started=at(9, 30), finished=at(15, 40), deadline=at(9, 30, day=30)),
        ],
        delivery_method="postal",
        waybill_no=WAYBILL_NO,
    )


def statement() -> SubsidyStatementData:
    second = uscc("410502", org="MA20000K3", kind="92")
    return SubsidyStatementData(
        month="2026-11",
        shop_id="SHOP-410502-01",
        shop_name="安阳市文峰区诚信刻章店",
        entries=[
            StatementEntry(
                grant_id="SG-2026-000042",
                enterprise_name=ENTERPRISE,
                uscc=USCC,
                seals=["official", "financial", "invoice", "legal_representative"],
                amount_cny=Decimal("640.00"),
                settled_at=datetime(2026, 11, 27, 15, 20, tzinfo=CST),
            ),
            StatementEntry(
                grant_id="SG-2026-000043",
                enterprise_name="安阳市文峰区明德商贸中心",
                uscc=second,
                seals=["official", "financial"],
                amount_cny=Decimal("360.00"),
                settled_at=datetime(2026, 11, 28, 10, 0, tzinfo=CST),
            ),
        ],
        total_cny=Decimal("1000.00"),
        generated_at=datetime(2026, 12, 1, 8, 0, tzinfo=CST),
    )
