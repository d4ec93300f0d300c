"""All of taustack's evaluation statistics, pure numpy and seeded: pass^k, cluster bootstrap intervals, clustered
standard errors, exact McNemar, a sign-flip permutation test and the minimum detectable effect.

The unit is the task (a cluster of trials, Miller arXiv 2411.00640): every interval resamples tasks, never
simulations. None means "not estimable" (one task, or a statistic the trials cannot support).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

LEVEL = 0.95
MDE_POWER = 0.80
MDE_ALPHA = 0.05  # two-sided
MDE_FACTOR = NormalDist().inv_cdf(1 - MDE_ALPHA / 2) + NormalDist().inv_cdf(MDE_POWER)  # 1.960 + 0.842 = 2.802
WORST_CASE_VARIANCE = 0.5  # a difference of two independent Bernoulli(1/2) outcomes: the largest without correlation
EXACT_SIGN_FLIP_MAX = 16  # at most 2**16 sign patterns enumerated; beyond, random draws
Floats = NDArray[np.float64]


def pass_hat_k(n: int, c: int, k: int) -> float:
    """C(c,k)/C(n,k): the chance that k trials drawn without replacement from n all succeed (tau2's pass^k)."""
    if k > n:
        raise ValueError(f"k={k} is more than the {n} trials")
    return math.comb(c, k) / math.comb(n, k)


def task_pass_hat_k(trials: Sequence[int], successes: Sequence[int], k: int) -> list[float | None]:
    """Per-task pass^k; None for a task with fewer than k trials (not estimable)."""
    return [pass_hat_k(n, c, k) if n >= k else None for n, c in zip(trials, successes, strict=True)]


def bootstrap_means_from_counts(counts: NDArray[np.int64], support: Floats, draws: int,
                                rng: np.random.Generator) -> Floats:
    """Bootstrap means of tasks whose values lie in `support`: counts (..., m) tasks per value -> (draws, ...);
    a support of shape (m, s) gives s statistics from the same resamples -> (draws, ..., s).

    Resampling n tasks with replacement draws the counts from Multinomial(n, counts/n), so this equals index
    resampling in distribution; the multinomial is drawn as a chain of binomials, vectorised over draws.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.sum(axis=-1)
    if np.any(n <= 0):
        raise ValueError("every sample needs at least one task")
    shape = (draws, *counts.shape[:-1])
    remaining = np.broadcast_to(n, shape).astype(np.int64)
    values = np.asarray(support, dtype=np.float64)
    columns = values.reshape(values.shape[0], -1)
    total = np.zeros((*shape, columns.shape[1]), dtype=np.float64)
    later = n.astype(np.float64)
    for j in range(counts.shape[-1] - 1):
        share = np.divide(counts[..., j], later, out=np.zeros(counts.shape[:-1]), where=later > 0)
        taken = rng.binomial(remaining, np.clip(share, 0.0, 1.0))
        total += taken[..., None] * columns[j]
        remaining = remaining - taken
        later = later - counts[..., j]
    total += remaining[..., None] * columns[-1]
    means = total / np.asarray(n, dtype=np.float64)[..., None]
    return np.asarray(means if values.ndim > 1 else means[..., 0], dtype=np.float64)


def _stratum_means(values: Floats, draws: int, rng: np.random.Generator) -> Floats:
    support, counts = np.unique(values, return_counts=True)
    return bootstrap_means_from_counts(counts, support.astype(np.float64), draws, rng)


def bootstrap_distribution(values: Sequence[float], strata: Sequence[str] | None, draws: int,
                           seed: int) -> Floats:
    """Cluster bootstrap of the mean over tasks; with strata, tasks are resampled within each stratum (domain)
    and combined weighted by the stratum's task count, i.e. the mean over all tasks pooled, as tau2 averages."""
    rng = np.random.default_rng(seed)
    array = np.asarray(values, dtype=np.float64)
    labels = np.asarray(strata if strata is not None else [""] * len(array))
    total = np.zeros(draws, dtype=np.float64)
    for label in sorted(set(labels.tolist())):
        part = array[labels == label]
        total += _stratum_means(part, draws, rng) * len(part)
    return total / len(array)


def percentile_interval(distribution: Floats, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of a bootstrap distribution."""
    tail = (1 - level) / 2
    low, high = np.quantile(distribution, [tail, 1 - tail], axis=0)
    return float(low), float(high)


def bootstrap_ci(values: Sequence[float], strata: Sequence[str] | None = None, draws: int = 2000, seed: int = 0,
                 level: float = LEVEL) -> tuple[float, float] | None:
    """95% percentile cluster-bootstrap interval of the mean of per-task values; None with fewer than 2 tasks."""
    if len(values) < 2:
        return None
    return percentile_interval(bootstrap_distribution(values, strata, draws, seed), level)


def clustered_se(values: Sequence[float], strata: Sequence[str] | None = None) -> float | None:
    """Standard error of the mean with the task as the cluster: sd(per-task values, ddof=1)/sqrt(n), combined
    over strata as sqrt(sum (n_d/N)^2 SE_d^2); None where a stratum has fewer than 2 tasks."""
    array = np.asarray(values, dtype=np.float64)
    labels = np.asarray(strata if strata is not None else [""] * len(array))
    variance = 0.0
    for label in set(labels.tolist()):
        part = array[labels == label]
        if len(part) < 2:
            return None
        variance += (len(part) / len(array)) ** 2 * float(np.var(part, ddof=1)) / len(part)
    return math.sqrt(variance) if len(array) else None


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar test: p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b+c=0."""
    n = b + c
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def sign_flip_p(differences: Sequence[float], draws: int = 10000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation test of mean(d) = 0 over per-task differences: exact enumeration when at
    most EXACT_SIGN_FLIP_MAX are non-zero, else `draws` random flips with p = (hits + 1)/(draws + 1)."""
    d = np.asarray([x for x in differences if x != 0], dtype=np.float64)
    if len(d) == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-12
    if len(d) <= EXACT_SIGN_FLIP_MAX:
        patterns = ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1) * 2 - 1
        return float(np.mean(np.abs(patterns @ d) >= observed))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(draws, len(d)))
    hits = int(np.sum(np.abs(signs @ d) >= observed))
    return (hits + 1) / (draws + 1)


@dataclass(frozen=True)
class Mde:
    """A minimum detectable effect, the variance of the per-task difference it assumed, and where that came from."""

    value: float
    variance: float
    basis: str  # "observed", "floor: independent at the observed rates", "floor: worst case"


def mde(differences: Sequence[float], rate_a: float, rate_b: float) -> Mde | None:
    """Power-based MDE of a paired design with n tasks, MDE_FACTOR sqrt(s2/n) (80% power, two-sided 5%); None
    below 2 tasks. s2 is the observed variance of the per-task differences when any task differs. When none does it
    is not estimable, and 0 would claim any effect detectable: the floor is then a difference of independent
    Bernoulli outcomes at the observed rates, ra(1-ra) + rb(1-rb) (conservative: models on the same tasks correlate
    positively), or WORST_CASE_VARIANCE when every outcome is the same (rates of 0 or 1)."""
    n = len(differences)
    if n < 2:
        return None
    variance = float(np.var(np.asarray(differences, dtype=np.float64), ddof=1))
    basis = "observed"
    if variance == 0.0:
        variance = rate_a * (1 - rate_a) + rate_b * (1 - rate_b)
        basis = "floor: independent at the observed rates"
    if variance == 0.0:
        variance, basis = WORST_CASE_VARIANCE, "floor: worst case"
    return Mde(MDE_FACTOR * math.sqrt(variance / n), variance, basis)


def flips(outcomes: Sequence[bool]) -> int | None:
    """Adjacent changes of outcome between consecutive trials (in trial order); None with one trial."""
    if len(outcomes) < 2:
        return None
    return sum(1 for a, b in itertools.pairwise(outcomes) if a != b)
