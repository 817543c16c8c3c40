"""The document inputs refuse what would print a wrong document."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from documents.models import (
    CompletionNoticeData,
    SealLine,
    StageTiming,
    SubsidyStatementData,
    SubsidyVoucherData,
    WaybillLabelData,
)
from domain.status import DeliveryStatus, Stages, StageStatus, StatusDocument
from tests.documents import (
    APPLICATION_ID,
    CST,
    GENERATED,
    POPPLER_MISSING,
    USCC,
    WAYBILL_NO,
    notice,
    poppler,
    statement,
    voucher,
    waybill,
)


def test_the_voucher_amounts_must_add_up_to_the_seals() -> None:
    with pytest.raises(ValidationError, match="do not add up"):
        SubsidyVoucherData.model_validate({**voucher().model_dump(), "enterprise_pays_cny": Decimal("0.00")})
    too_generous = voucher().model_dump()
    too_generous.update(
        seals=[SealLine(kind="official", price_cny=Decimal("200.00"), paid_by="enterprise")],
        city_pays_cny=Decimal("200.00"),
        enterprise_pays_cny=Decimal("0.00"),
    )
    with pytest.raises(ValidationError, match="more than the covered"):
        SubsidyVoucherData.model_validate(too_generous)


def test_the_statement_total_must_be_the_sum_of_its_entries() -> None:
    with pytest.raises(ValidationError, match=r"add up to 1000\.00"):
        SubsidyStatementData.model_validate({**statement().model_dump(), "total_cny": Decimal("999.99")})
    with pytest.raises(ValidationError, match="YYYY-MM"):
        SubsidyStatementData.model_validate({**statement().model_dump(), "month": "2026-13"})


def test_a_waybill_number_with_a_wrong_check_digit_is_refused() -> None:
    wrong = WAYBILL_NO[:10] + str((int(WAYBILL_NO[10]) + 1) % 10) + "CN"
    with pytest.raises(ValidationError, match="check digit"):
        WaybillLabelData.model_validate({**waybill().model_dump(), "waybill_no": wrong})


def test_times_without_an_offset_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        CompletionNoticeData.model_validate(
            {**notice().model_dump(), "generated_at": datetime(2026, 11, 27, 16, 0)}
        )


def test_a_stage_is_on_time_late_open_or_skipped() -> None:
    start = datetime(2026, 11, 27, 9, 0, tzinfo=CST)
    deadline = start + timedelta(hours=4)

    def timing(**changes: object) -> StageTiming:
        fields: dict[str, object] = {"stage": "registration", "state": "done", "started_at": start}
        return StageTiming.model_validate({**fields, **changes})

    assert timing(finished_at=deadline, deadline=deadline).verdict == "on_time"
    assert timing(finished_at=deadline + timedelta(seconds=1), deadline=deadline).verdict == "late"
    assert timing(state="running", deadline=deadline).verdict == "open"
    assert timing(state="skipped", started_at=None).verdict == "skipped"


def test_the_completion_notice_is_made_from_the_status_document() -> None:
    at = datetime(2026, 11, 27, 9, 30, tzinfo=CST)
    done = StageStatus(
        state="done", started_at=at, finished_at=at + timedelta(hours=1), deadline=at + timedelta(hours=4)
    )
    status = StatusDocument(
        application_id=APPLICATION_ID,
        workflow_id=f"setup-{APPLICATION_ID}",
        stage="completed",
        accepted_at=at,
        completed_at=at + timedelta(hours=6),
        uscc=USCC,
        stages=Stages(
            registration=done, seal_carving=done, invoice=StageStatus(state="skipped"), overall=done
        ),
        delivery=DeliveryStatus(method="postal", waybill_no=WAYBILL_NO, state="delivered"),
    )
    data = CompletionNoticeData.from_status(
        status, enterprise_name="安阳市文峰区晨曦餐饮有限公司", generated_at=GENERATED
    )
    assert [(s.stage, s.limit, s.verdict) for s in data.stages] == [
        ("registration", "4h", "on_time"),
        ("seal_carving", "2h", "on_time"),
        ("invoice", "1h", "skipped"),
        ("overall", "7h", "on_time"),
    ]
    assert data.on_time and data.waybill_no == WAYBILL_NO
    with pytest.raises(ValueError, match="completed case"):
        CompletionNoticeData.from_status(
            status.model_copy(update={"uscc": None}), enterprise_name="x", generated_at=GENERATED
        )


def test_a_missing_poppler_tool_fails_the_tests_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception) as failed:
        poppler("pdftotext", "-v")
    assert str(failed.value) == POPPLER_MISSING.format(tool="pdftotext")
    assert "make system" in str(failed.value) and "poppler-utils" in str(failed.value)
