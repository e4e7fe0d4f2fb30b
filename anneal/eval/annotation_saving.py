"""Annotation saving: how much a baseline must spend to reach a method's quality.

Learning curves are piecewise linear between measured points (cost ascending, mean over seeds).
The target is the method's value at a cost c (interpolated on its curve); the baseline's cost to
reach it is where its curve first rises to the target, interpolated within the segment that
crosses it. None means it never does within the measured run.
"""

from __future__ import annotations

import numpy as np


def value_at(curve: dict[float, float], cost: float) -> float | None:
    """The curve's value at `cost`, interpolated; None outside the measured range."""
    xs = np.array(sorted(curve))
    if len(xs) == 0 or cost < xs[0] or cost > xs[-1]:
        return None
    return float(np.interp(cost, xs, [curve[x] for x in xs]))


def cost_to_reach(curve: dict[float, float], target: float) -> float | None:
    """The least cost at which the curve reaches `target`; None if it never does."""
    xs = sorted(curve)
    for i, x in enumerate(xs):
        if curve[x] >= target:
            if i == 0:
                return float(x)
            x0, y0 = xs[i - 1], curve[xs[i - 1]]
            return float(x0 + (target - y0) * (x - x0) / (curve[x] - y0))
    return None
