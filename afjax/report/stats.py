"""Small statistics for the report: Student-t quantiles and means with null handling.

scipy is not a dependency, so the t quantile is computed here: for an integer
number of degrees of freedom nu the two-sided probability
A(t | nu) = P(|T| <= t) has a closed form (Abramowitz & Stegun 26.7.3-4); with
theta = atan(t / sqrt(nu)):

  nu odd:  A = 2/pi * (theta + sin(theta) * (cos(theta) + 2/3 cos^3(theta) + ...
                + (2 * 4 ... (nu - 3)) / (1 * 3 ... (nu - 2)) * cos^(nu - 2)(theta)))
           (only 2 theta / pi for nu = 1)
  nu even: A = sin(theta) * (1 + 1/2 cos^2(theta) + (1 * 3)/(2 * 4) cos^4(theta) + ...
                + (1 * 3 ... (nu - 3)) / (2 * 4 ... (nu - 2)) * cos^(nu - 2)(theta))

and the quantile t_{1 - alpha/2, nu} is the root of A(t | nu) = 1 - alpha,
found by bisection to within 1e-12.
"""

from __future__ import annotations

import math
from typing import Sequence


def t_two_sided_probability(t: float, df: int) -> float:
  """P(|T| <= t) for T Student-t with `df` (a positive integer) degrees of freedom."""
  if not isinstance(df, int) or isinstance(df, bool) or df < 1:
    raise ValueError(f"df must be a positive integer, got {df!r}")
  if t <= 0:
    return 0.0
  theta = math.atan(t / math.sqrt(df))
  sin, cos = math.sin(theta), math.cos(theta)
  if df % 2 == 1:
    total, term = 0.0, cos
    for k in range(1, (df - 1) // 2 + 1):  # terms cos^(2k-1), k = 1 .. (df-1)/2
      if k > 1:
        term *= (2 * k - 2) / (2 * k - 1) * cos * cos
      total += term
    return min(1.0, 2.0 / math.pi * (theta + sin * total)) if df > 1 else 2.0 * theta / math.pi
  total, term = 0.0, 1.0
  for k in range(0, (df - 2) // 2 + 1):  # terms cos^(2k), k = 0 .. (df-2)/2
    if k > 0:
      term *= (2 * k - 1) / (2 * k) * cos * cos
    total += term
  return min(1.0, sin * total)


def t_quantile(df: int, confidence: float = 0.95) -> float:
  """The two-sided critical value t with P(|T| <= t) = confidence (t_{0.975, df} for 0.95)."""
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
  lo, hi = 0.0, 1.0
  while t_two_sided_probability(hi, df) < confidence:
    hi *= 2.0
  while hi - lo > 1e-12 * max(1.0, hi):
    mid = (lo + hi) / 2.0
    if t_two_sided_probability(mid, df) < confidence:
      lo = mid
    else:
      hi = mid
  return (lo + hi) / 2.0


def mean_or_none(values: Sequence[float | None]) -> float | None:
  """Mean of the non-null values; None when every value is null (or there are none)."""
  present = [float(v) for v in values if v is not None]
  return math.fsum(present) / len(present) if present else None


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
  """mean +- t_{(1 + confidence)/2, n-1} * sd / sqrt(n), sd with n - 1 (n >= 2 values)."""
  n = len(values)
  if n < 2:
    raise ValueError(f"a t interval needs at least 2 values, got {n}")
  mean = math.fsum(values) / n
  sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
  half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
  return (mean - half, mean + half)
