"""The statistics: hand-computed values, and the bootstrap interval's coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taustack.eval import stats


def test_pass_hat_k() -> None:
    assert stats.pass_hat_k(4, 2, 1) == 0.5
    assert stats.pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
    assert stats.task_pass_hat_k([1, 4], [1, 4], 2) == [None, 1.0]


@pytest.mark.parametrize(("b", "c", "p"), [
    (5, 1, 0.21875),        # n=6: 2*(1+6)/64
    (0, 0, 1.0),
    (3, 3, 1.0),            # 2*P(X<=3 | n=6) = 2*42/64 > 1
    (10, 0, 2 / 1024),      # 2*(1/1024)
    (8, 2, 0.109375),       # n=10: 2*(1+10+45)/1024 = 112/1024
    (1, 0, 1.0),            # 2*(1/2)
])
def test_mcnemar_exact(b: int, c: int, p: float) -> None:
    assert stats.mcnemar_exact(b, c) == pytest.approx(p)
    assert stats.mcnemar_exact(c, b) == pytest.approx(p)


def test_sign_flip_exact_matches_mcnemar_on_binary_differences() -> None:
    # with differences in {-1, 0, 1} the exact sign-flip test is the exact McNemar test
    d = [1.0] * 5 + [-1.0] + [0.0] * 10
    assert stats.sign_flip_p(d) == pytest.approx(0.21875)
    assert stats.sign_flip_p([0.0, 0.0]) == 1.0
    many = list(np.random.default_rng(1).normal(0.3, 1.0, 40))
    p = stats.sign_flip_p(many, draws=4000, seed=2)
    assert 0 < p < 1 and p == stats.sign_flip_p(many, draws=4000, seed=2)


def test_se_mde_flips_and_not_estimable() -> None:
    values = [1.0, 0.0, 1.0, 1.0]
    assert stats.clustered_se(values) == pytest.approx(math.sqrt(0.25 / 4))
    assert stats.clustered_se([1.0]) is None and stats.bootstrap_ci([1.0]) is None
    assert stats.flips([True, False, False, True]) == 2 and stats.flips([True]) is None
    low, high = stats.bootstrap_ci(values, draws=2000, seed=0) or (0, 0)
    assert 0.0 <= low <= 0.75 <= high <= 1.0
    assert stats.bootstrap_ci(values, seed=3) == stats.bootstrap_ci(values, seed=3)


def test_mde_is_power_based_and_states_its_variance() -> None:
    z = 1.959964 + 0.841621  # z(0.975) + z(0.80) from the normal table: 80% power, two-sided 5%
    factor = stats.MDE_FACTOR
    assert factor == pytest.approx(z, abs=1e-5)
    observed = stats.mde([1.0, -1.0, 0.0, 0.0], 0.5, 0.5)
    assert observed == stats.Mde(pytest.approx(z * math.sqrt(2 / 3) / 2, abs=1e-5), pytest.approx(2 / 3), "observed")
    # nothing differs: the observed variance is 0 and says nothing; the floor is stated, never an MDE of 0
    same = [0.0] * 20
    at_rates = stats.mde(same, 0.3, 0.3)
    assert at_rates is not None and at_rates.basis == "floor: independent at the observed rates"
    assert at_rates.variance == pytest.approx(2 * 0.3 * 0.7)
    assert at_rates.value == pytest.approx(z * math.sqrt(0.42 / 20), abs=1e-5)
    for rate in (0.0, 1.0):  # every outcome the same: the worst case of independent outcomes
        worst = stats.mde(same, rate, rate)
        assert worst == stats.Mde(pytest.approx(z * math.sqrt(0.5 / 20), abs=1e-5), 0.5, "floor: worst case")
    assert stats.mde([0.0], 0.5, 0.5) is None and stats.mde([], 0.5, 0.5) is None


def test_stratified_bootstrap_keeps_each_domain_size() -> None:
    # one domain all successes, one all failures: every resample has the same pooled mean
    values = [1.0] * 30 + [0.0] * 10
    strata = ["a"] * 30 + ["b"] * 10
    assert stats.bootstrap_ci(values, strata) == (0.75, 0.75)
    low, high = stats.bootstrap_ci(values) or (0, 0)
    assert low < 0.75 < high


def _beta_moment(a: float, b: float, k: int) -> float:
    return math.prod((a + j) / (a + b + j) for j in range(k))


CONCENTRATION = 2.0  # Beta(a, b) with a + b = 2: mean 0.5 is Beta(1, 1); mean 0.85 is Beta(1.7, 0.3)
DRAWS = 2000
BOOTSTRAP = 2000


def _coverage(mean: float, n: int, trials: int, rng: np.random.Generator) -> list[tuple[int, float]]:
    """(k, coverage) for k = 1 and k = trials, from the same simulated runs and the same resamples."""
    a, b = mean * CONCENTRATION, (1 - mean) * CONCENTRATION
    ks = sorted({1, trials})
    p = rng.beta(a, b, size=(DRAWS, n))
    successes = rng.binomial(trials, p)  # (DRAWS, n)
    support = np.array([[stats.pass_hat_k(trials, c, k) for k in ks] for c in range(trials + 1)])
    counts = (successes[..., None] == np.arange(trials + 1)).sum(axis=1)  # tasks per success count
    means = stats.bootstrap_means_from_counts(counts, support, BOOTSTRAP, rng)  # (BOOTSTRAP, DRAWS, len(ks))
    low, high = np.quantile(means, [0.025, 0.975], axis=0)
    truth = np.array([_beta_moment(a, b, k) for k in ks])
    return list(zip(ks, np.mean((low <= truth) & (truth <= high), axis=0).tolist(), strict=True))


def test_bootstrap_interval_coverage() -> None:
    rng = np.random.default_rng(20240601)
    rows = []
    for mean in (0.5, 0.85):
        for n in (20, 50, 114):
            for trials in (1, 4):
                rows.extend((mean, n, trials, k, cover) for k, cover in _coverage(mean, n, trials, rng))
    print(f"\ncoverage of the 95% cluster-bootstrap interval (Beta tasks, a+b={CONCENTRATION:g}, {DRAWS} draws, "
          f"B={BOOTSTRAP})")
    print(f"{'mean':>5} {'n':>4} {'K':>2} {'k':>2} {'coverage':>9}")
    for mean, n, trials, k, coverage in rows:
        print(f"{mean:>5} {n:>4} {trials:>2} {k:>2} {coverage:>9.3f}")
    for mean, n, trials, k, coverage in rows:
        if n >= 50:
            assert 0.93 <= coverage <= 0.97, (mean, n, trials, k, coverage)
