"""`make score-report`'s pooled figures: every held-out set at once, as versions are
compared (docs/benchmarks.md, "Quality scoring")."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def score_report() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "tools" / "score_report.py"
    spec = importlib.util.spec_from_file_location("score_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report(half: str, confusion: dict[str, dict[str, int]], p99: float) -> dict[str, object]:
    return {"half": half, "confusion": confusion, "latency_ms": {"p99": p99},
            "reward": {"precision": 0.0, "recall": 0.0},
            "per_label": {"spam": {"precision": 0.0, "recall": 0.0}},
            "targets_met": {"all": False}}


def test_pooled_figures_sum_the_sets_confusion_matrices() -> None:
    tool = score_report()
    a = report("a", {"good": {"good": 9, "low": 1, "spam": 0},
                     "low": {"good": 1, "low": 9, "spam": 0},
                     "spam": {"good": 0, "low": 2, "spam": 8}}, 1.5)
    b = report("b", {"good": {"good": 10, "low": 0, "spam": 0},
                     "low": {"good": 0, "low": 9, "spam": 1},
                     "spam": {"good": 0, "low": 0, "spam": 10}}, 2.5)
    pooled = tool.pooled([a, b])
    assert pooled["reward precision"] == pytest.approx(19 / 20)
    assert pooled["reward recall"] == pytest.approx(19 / 20)
    assert pooled["spam precision"] == pytest.approx(18 / 19)
    assert pooled["spam recall"] == pytest.approx(18 / 20)
    assert pooled["p99 ms per entry"] == 2.5  # the worst set's
    table = tool.done_when([a, b]).splitlines()
    assert table[1].split() == ["a", "b", "pooled", "target"]
    assert [line.split()[-3:] for line in table if line.startswith("genuine called spam")] \
        == [["0", "1", "1"]]
    # The per-set columns are each report's own figures (zeros here), then the pooled one.
    assert [line.split()[-5:] for line in table if line.startswith("spam recall")] \
        == [["0.000", "0.000", "0.900", ">=", "0.95"]]
