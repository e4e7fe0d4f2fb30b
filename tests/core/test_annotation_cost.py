import math

import pytest

from anneal.eval.annotation_cost import CostModel, with_costs
from anneal.eval.annotation_saving import cost_to_reach, value_at
from anneal.experiment.cost_report import saving_table


def test_cost_model_hand_example():
    model = CostModel(classes=8, seconds_per_pair=0.5, seconds_per_class_label=2.0)
    assert model.bits_per_class_label == 3.0
    assert model.bits(pairs=100, class_labels=10) == 130.0
    assert model.seconds(pairs=100, class_labels=10) == 70.0
    assert CostModel(21, 1.0, 1.0).bits(0, 1) == pytest.approx(math.log2(21))  # 4.392 bits
    rows = with_costs([{"labelled_pairs": 300}, {"labelled_pairs": 0, "class_labels": 4}], model)
    assert [(r["annotation_bits"], r["annotation_seconds"]) for r in rows] == [
        (300.0, 150.0),
        (12.0, 8.0),
    ]
    with pytest.raises(ValueError, match="at least 2 classes"):
        CostModel(1, 1.0, 1.0)


def test_value_and_cost_on_a_piecewise_linear_curve():
    curve = {0.0: 0.5, 100.0: 0.6, 200.0: 0.7, 300.0: 0.8}
    assert value_at(curve, 150) == pytest.approx(0.65)
    assert value_at(curve, 301) is None
    assert cost_to_reach(curve, 0.65) == pytest.approx(150.0)
    assert cost_to_reach(curve, 0.4) == 0.0  # already there at the start
    assert cost_to_reach(curve, 0.81) is None  # never within the run
    # A dip does not count: the first crossing is the answer.
    assert cost_to_reach({0.0: 0.5, 10.0: 0.7, 20.0: 0.6, 30.0: 0.9}, 0.6) == pytest.approx(5.0)


def _rows(strategy: str, xs: list[int], maps: list[float], kind: str = "pair") -> list[dict]:
    rows = []
    for rnd, (x, m) in enumerate(zip(xs, maps, strict=True)):
        pairs, labels = (x, 0) if kind == "pair" else (0, x)
        bits = pairs + 2 * labels  # 4 classes: 2 bits per label
        rows.append(
            {
                "strategy": strategy,
                "round": rnd,
                "labelled_pairs": pairs,
                "class_labels": labels,
                "map@20": m,
                "annotation_bits": float(bits),
                "annotation_seconds": float(pairs * 1.0 + labels * 2.0),
            }
        )
    return rows


def test_saving_table_worked_by_hand():
    rows = (
        _rows("mgue", [0, 300, 500, 1000], [0.5, 0.8, 0.85, 0.9])
        + _rows("random", [0, 300, 500, 1000], [0.5, 0.6, 0.7, 0.82])
        + _rows("class-entropy", [0, 50, 100, 200], [0.5, 0.7, 0.8, 0.86], kind="class")
    )
    lines = saving_table(rows, CostModel(4, seconds_per_pair=1.0, seconds_per_class_label=2.0))
    table = {(c[2].strip(), c[4].strip()): c[5].strip() for c in (x.split("|") for x in lines[2:])}
    # At 300 pairs ANNEAL has 0.80; random crosses 0.80 between 500 (0.70) and 1000 (0.82):
    # 500 + 0.10 / 0.12 * 500 = 916.7 pairs.
    assert table[("300", "random")] == "917 pairs"
    # Class labels reach 0.80 at 100 labels = 200 bits = 200 s (ANNEAL: 300 bits, 300 s).
    assert table[("300", "class-entropy")].startswith("100 class labels = 200 bits = 200 s")
    # At 500 pairs (0.85) random never gets there; class labels at 200 + 0.05 / 0.06 * 200 bits.
    assert table[("500", "random")] == "never within the run (at 1000 pairs: 0.8200)"
    assert table[("500", "class-entropy")].startswith("183 class labels = 367 bits")
    # At 1000 pairs (0.90) neither baseline does.
    assert table[("1000", "random")].startswith("never within the run")
    assert table[("1000", "class-entropy")].startswith("never within the run (at 400 bits")


def test_saving_not_measured_beyond_the_run():
    rows = _rows("mgue", [0, 100], [0.5, 0.6]) + _rows("uniform", [0, 100], [0.5, 0.55])
    lines = saving_table(rows, CostModel(4, 1.0, 2.0))
    assert lines[2] == "| mgue | 300 | not measured (run ends at 100 pairs) | - | - | - |"
    assert all(len(x.split("|")) == 8 for x in lines)  # six cells in every row
