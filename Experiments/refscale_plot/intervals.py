"""The median of a configuration's repetitions and a distribution-free confidence interval for it.

Method: the order-statistic interval of the median. For n sorted repetitions x(1) <= ... <= x(n),
the interval [x(k), x(n+1-k)] holds the true median with probability 1 - 2 P(B <= k-1), B binomial
(n, 1/2), whatever the distribution of the repetitions (they need only be independent and
identically distributed). The widest k whose probability is at least 95% is taken; this is the
interval `scipy.stats.quantile_test(x, p=0.5).confidence_interval(0.95)` gives, and the tests
check that the two agree. It is written out here because importing scipy.stats takes longer than
drawing the figures.

No such interval reaches 95% with fewer than 6 repetitions: with 3, 4 or 5 the widest one is
min–max, whose confidence (75%, 87.5%, 93.75%) the caption states. Under 3 repetitions min–max is
no interval at all, and points built from so few are marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CONFIDENCE = 0.95
MINIMUM_REPETITIONS = 3


@dataclass(frozen=True)
class Estimate:
    median: float
    low: float
    high: float
    reps: int            # the repetitions with a value
    confidence: float    # the chance that [low, high] holds the median; NaN under MINIMUM_REPETITIONS

    @property
    def few(self):
        """Fewer repetitions than an interval needs: low and high are the minimum and maximum."""
        return 0 < self.reps < MINIMUM_REPETITIONS

    def scaled(self, divisor):
        return Estimate(self.median / divisor, self.low / divisor, self.high / divisor, self.reps, self.confidence)


def _smallest_sample(confidence):
    n = 1
    while coverage(n, 1) < confidence:
        n += 1
    return n


MISSING = Estimate(math.nan, math.nan, math.nan, 0, math.nan)


def coverage(n, k):
    """The chance that [x(k), x(n+1-k)] of n independent repetitions holds their median."""
    below = sum(math.comb(n, index) for index in range(k)) / 2 ** n
    return 1 - 2 * below


# The fewest repetitions whose min–max reaches CONFIDENCE (6 for 95%).
SMALLEST_SAMPLE = _smallest_sample(CONFIDENCE)


def order_statistic_rank(n, confidence=CONFIDENCE):
    """The largest k (1-based) whose interval [x(k), x(n+1-k)] has at least `confidence`, or 1
    (min–max) when none has."""
    k = 1
    below = 1  # the sum of comb(n, i) for i < k: 2^n P(B <= k - 1)
    while k + 1 <= (n + 1) // 2 and 1 - 2 * (below + math.comb(n, k)) / 2 ** n >= confidence:
        below += math.comb(n, k)
        k += 1
    return k


def estimate(values):
    """The Estimate of a list of numbers; NaN values (blank cells) are left out."""
    numbers = sorted(value for value in values if not math.isnan(value))
    n = len(numbers)
    if n == 0:
        return MISSING
    middle = n // 2
    median = numbers[middle] if n % 2 else (numbers[middle - 1] + numbers[middle]) / 2
    if n < MINIMUM_REPETITIONS:
        return Estimate(median, numbers[0], numbers[-1], n, math.nan)
    k = order_statistic_rank(n)
    return Estimate(median, numbers[k - 1], numbers[n - k], n, coverage(n, k))
