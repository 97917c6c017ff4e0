"""scripts/agreement.py: the arithmetic of `compare`, on made-up labels (no real text)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "scripts" / "agreement.py"
_SPEC = importlib.util.spec_from_file_location("agreement", _PATH)
assert _SPEC and _SPEC.loader
agreement = importlib.util.module_from_spec(_SPEC)
sys.modules["agreement"] = agreement  # dataclasses look their module up there
_SPEC.loader.exec_module(agreement)

A = ["refund", "refund", "logistics", "other", "other", "other", "bargaining", "logistics"]
B = ["refund", "other", "logistics", "other", "other", "refund", "bargaining", "refund"]


def test_figures_worked_by_hand():
    result = agreement.agreement(A, B)
    assert result.n == 8
    assert result.raw == pytest.approx(5 / 8)
    # expected agreement (2*3 + 2*1 + 3*3 + 1*1) / 64 = 18/64; kappa = (40/64 - 18/64) / (46/64)
    assert result.kappa == pytest.approx(22 / 46)
    p, r, f1, support = result.per_intent["refund"]
    # classifiers.evaluate.report rounds P/R/F1 to 4 places
    third = pytest.approx(1 / 3, abs=1e-4)
    two_thirds = pytest.approx(2 / 3, abs=1e-4)
    assert (p, r, f1, support) == (third, pytest.approx(1 / 2), pytest.approx(0.4), 2)
    assert result.per_intent["logistics"][:3] == (1.0, 0.5, two_thirds)
    assert result.per_intent["other"][2] == two_thirds
    assert result.per_intent["bargaining"][2] == 1.0
    # hesitation is used by neither labeller, so it is left out of the macro average
    assert result.per_intent["hesitation"] == (0.0, 0.0, 0.0, 0)
    assert result.macro_f1 == pytest.approx((0.4 + 2 / 3 + 2 / 3 + 1.0) / 4, abs=1e-4)
    assert result.confusion[("other", "refund")] == 1
    assert result.confusion[("logistics", "refund")] == 1
    assert result.confusion[("refund", "other")] == 1
    assert ("refund", "logistics") not in result.confusion


def test_full_agreement_and_the_chance_case():
    assert agreement.agreement(A, A).kappa == pytest.approx(1.0)
    # both give one label to everything: agreement is total and kappa is defined as 1
    assert agreement.agreement(["other"] * 3, ["other"] * 3).kappa == 1.0
    with pytest.raises(ValueError):
        agreement.agreement(["other"], [])


def _write(path: Path, labels: list[str], split: str = "dev") -> Path:
    rows = [{"id": f"x-{i:02d}", "intent": label, "split": split} for i, label in enumerate(labels)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_compare_reads_files_and_scores_b_on_its_own_ids(tmp_path):
    a = _write(tmp_path / "a.jsonl", [*A, "other", "other"])  # A holds two rows B did not label
    b = _write(tmp_path / "b.jsonl", B)
    out = agreement.compare(a, b)
    assert "n=8  raw agreement 0.625  Cohen's kappa 0.478" in out
    assert "dev: n=8" in out
    low_k, high_k, low_m, high_m = agreement.bootstrap(A, B, 200, 1)
    assert low_k <= 22 / 46 <= high_k and low_m <= high_m <= 1.0
    assert "bootstrap (50 resamples" in agreement.compare(a, b, 50)


def test_bad_label_files_get_a_clear_error(tmp_path):
    a = _write(tmp_path / "a.jsonl", A)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x-00", "intent": "shipping"}\n', encoding="utf-8")
    with pytest.raises(agreement.LabelFileError, match="not one of"):
        agreement.compare(a, bad)
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(agreement.LabelFileError, match="not JSON"):
        agreement.compare(a, bad)
    stranger = tmp_path / "stranger.jsonl"
    stranger.write_text('{"id": "y-99", "intent": "other"}\n', encoding="utf-8")
    with pytest.raises(agreement.LabelFileError, match="no label in"):
        agreement.compare(a, stranger)
    assert agreement.main(["compare", "--a", str(a), "--b", str(bad)]) == 2


def test_the_sheet_sample_is_seeded_stratified_and_never_fresh():
    rows = [{"id": f"d-{i:03d}", "split": "dev"} for i in range(70)]
    rows += [{"id": f"h-{i:03d}", "split": "heldout"} for i in range(30)]
    rows += [{"id": f"f-{i:03d}", "split": "fresh"} for i in range(50)]
    picked = agreement.sample_ids(rows, 20, 23)
    assert len(picked) == 20 and len(set(picked)) == 20
    assert sum(split == "dev" for _, split in picked) == 14  # 70 % of the dev + held-out rows
    assert not any(split == "fresh" for _, split in picked)
    assert picked == agreement.sample_ids(rows, 20, 23)
    assert picked != agreement.sample_ids(rows, 20, 24)
