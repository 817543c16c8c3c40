"""The sample applications of ``make run`` are valid and cover what the demo should show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import SAMPLES_DIR
from devstack.follow import SUPPLEMENT_SUFFIX, Sample, load_samples
from domain.identifiers import is_valid_resident_id, is_valid_uscc

application = pytest.importorskip("domain.application")

SAMPLES = load_samples(SAMPLES_DIR)


def test_there_are_enough_samples() -> None:
    assert len(SAMPLES) >= 7


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.path.stem)
def test_every_sample_parses(sample: Sample) -> None:
    app = application.parse_application(sample.path.read_bytes())
    assert app.application_id == sample.application_id
    assert sample.path.name.startswith(sample.application_id)
    if sample.supplement_path is not None:
        corrected = application.apply_supplement(app, sample.supplement_path.read_bytes())
        assert corrected.enterprise.name != app.enterprise.name
        assert "冲突" not in corrected.enterprise.name


def test_every_supplement_belongs_to_a_sample() -> None:
    for path in SAMPLES_DIR.glob(f"*{SUPPLEMENT_SUFFIX}"):
        assert path.with_name(path.name.removesuffix(SUPPLEMENT_SUFFIX) + ".json").exists(), path


def test_identifiers_are_valid_to_the_check_digit() -> None:
    for sample in SAMPLES:
        body = sample.body
        people = [body["legal_representative"], *body["shareholders"]]
        for person in people:
            if "id_number" in person:
                assert is_valid_resident_id(person["id_number"]), (sample.path.name, person)
                assert person["id_number"].startswith("4105"), "an Anyang-area ID number"
            else:
                assert is_valid_uscc(person["uscc"]), (sample.path.name, person)


def test_the_samples_show_every_case_the_demo_needs() -> None:
    bodies = [s.body for s in SAMPLES]
    kinds = {b["enterprise"]["kind"] for b in bodies}
    assert kinds == {"limited_company", "sole_proprietorship", "partnership", "individual_business"}
    assert len({b["enterprise"]["district_code"] for b in bodies}) >= 5
    methods = {b["delivery"]["method"] for b in bodies}
    assert methods == {"postal", "pickup"}
    assert any(
        b["delivery"].get("inbound_materials") and b["delivery"]["district_code"] == "410506" for b in bodies
    ), "龙安区 mails both ways"
    assert any("contract" in b["seals"] for b in bodies)
    assert any("invoice" in b for b in bodies) and any("invoice" not in b for b in bodies)
    mixed = [
        b
        for b in bodies
        if b["enterprise"]["kind"] == "limited_company"
        and {"uscc", "id_number"} <= {k for sh in b["shareholders"] for k in sh}
    ]
    assert mixed, "a limited company with a natural-person and a corporate shareholder"
    conflicts = [s for s in SAMPLES if "冲突" in s.body["enterprise"]["name"]]
    assert conflicts and all(s.supplement_path is not None for s in conflicts)
    individual = [b for b in bodies if b["enterprise"]["kind"] == "individual_business"]
    assert any(
        b["shareholders"] == [] and b["enterprise"]["registered_capital_cny"] == "0.00" for b in individual
    )
    for body in bodies:
        assert "禁止" not in body["enterprise"]["name"]
        assert "查无此地" not in json.dumps(body, ensure_ascii=False)


def test_sample_files_are_utf8_json_objects() -> None:
    for path in Path(SAMPLES_DIR).glob("*.json"):
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path
