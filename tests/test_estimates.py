"""Bootstrap intervals against known standard errors (pathpatch.estimates.bootstrap / summarise).

For the mean of n i.i.d. values the percentile bootstrap interval at level 1 − α is, for large n,
mean ± z_{1−α/2} · s/√n with s the sample standard deviation (the bootstrap's standard error is
s·√((n−1)/n)/√n). Tolerances below: the Monte-Carlo error of a quantile of n_boot = 4000 resamples
is about 2-3 % of the interval's width, and the percentile interval's small-sample skew for normal
data is smaller still, so the width must match the analytic one within 8 %. Its centre must lie
within 15 % of a standard error of the sample mean (each endpoint's Monte-Carlo error is about 4 %
of a standard error; the sample's own skewness shifts a percentile interval by a few % more).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pathpatch.estimates import bootstrap, summarise
from tolerance import REDUCTION, approx

pytestmark = pytest.mark.numeric

Z = {0.95: 1.959964, 0.5: 0.674490, 0.9: 1.644854}


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=0) / math.sqrt(len(x)))  # the bootstrap's own standard error of the mean


@pytest.mark.parametrize("level", [0.95, 0.9, 0.5])
@pytest.mark.parametrize("n,sd,seed", [(400, 1.0, 0), (100, 3.0, 1)])
def test_interval_of_a_mean_has_the_analytic_width(level: float, n: int, sd: float, seed: int) -> None:
    x = np.random.default_rng(seed).normal(5.0, sd, n)
    est = bootstrap(lambda a: a.mean(-1), x, n_boot=4000, level=level, seed=seed, vectorised=True)
    se = _se(x)
    assert est.value == approx(x.mean(), steps=REDUCTION, dtype=np.float64)  # a float64 mean: its rounding
    assert est.high - est.low == pytest.approx(2 * Z[level] * se, rel=0.08)
    assert (est.low + est.high) / 2 == pytest.approx(x.mean(), abs=0.15 * se)
    if n >= 400:  # and near the population's sd/√n (s of 400 normal values is within ~4 % of sd)
        assert est.high - est.low == pytest.approx(2 * Z[level] * sd / math.sqrt(n), rel=0.12)


def test_summarise_aue_interval_has_the_analytic_width() -> None:
    """summarise's AUE and ATE intervals are those of a mean."""
    rng = np.random.default_rng(7)
    delta_h, delta_empty = rng.normal(1.0, 0.5, 300), rng.normal(4.0, 2.0, 300)
    out = summarise({"delta_h": delta_h, "delta_empty": delta_empty}, n_boot=4000, seed=3)
    for key, x in (("aue", delta_h), ("ate", delta_empty)):
        width = out[key].high - out[key].low
        assert width == pytest.approx(2 * Z[0.95] * _se(x), rel=0.08), key


def test_interval_of_a_ratio_matches_the_delta_method() -> None:
    """proportion explained = 1 − mean(h)/mean(e): its standard error by the delta method is
    sd(h/ē − h̄·e/ē²)/√n; independent normal h and e, n = 500."""
    rng = np.random.default_rng(11)
    n = 500
    h, e = rng.normal(1.0, 0.4, n), rng.normal(4.0, 1.0, n)
    out = summarise({"delta_h": h, "delta_empty": e}, n_boot=4000, seed=5)["proportion_explained"]
    hb, eb = h.mean(), e.mean()
    se = float(np.std(h / eb - hb * e / eb**2) / math.sqrt(n))
    assert out.value == approx(1 - hb / eb, steps=REDUCTION, dtype=np.float64)
    assert out.high - out.low == pytest.approx(2 * Z[0.95] * se, rel=0.1)


def test_coverage_of_the_true_mean() -> None:
    """Over 400 data sets of n = 50 normal values the 95 % interval holds the true mean in about
    93-95 % of them (the percentile bootstrap slightly under-covers at small n). With 400 sets the
    binomial standard deviation is 1.2 %, so [0.90, 0.98] is a band of more than 3 of them."""
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(400):
        x = rng.normal(2.0, 1.0, 50)
        est = bootstrap(lambda a: a.mean(-1), x, n_boot=500, seed=i, vectorised=True)
        hits += est.low <= 2.0 <= est.high
    assert 0.90 <= hits / 400 <= 0.98
