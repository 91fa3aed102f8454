"""The t quantile against published tables; means and intervals by hand."""

import math

import pytest

from afjax.report import stats

# t_{0.975, df} from standard tables (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 20: 2.086, 29: 2.045,
           60: 2.000, 100: 1.984}


@pytest.mark.parametrize("df,expected", sorted(T_TABLE.items()))
def test_t_quantile_matches_the_table(df, expected):
  assert stats.t_quantile(df) == pytest.approx(expected, abs=5e-4)


def test_t_probability_closed_forms():
  # df = 1 is Cauchy: P(|T| <= 1) = 1/2; df = 2: P(|T| <= t) = t / sqrt(2 + t^2).
  assert stats.t_two_sided_probability(1.0, 1) == pytest.approx(0.5, abs=1e-15)
  assert stats.t_two_sided_probability(3.0, 2) == pytest.approx(3 / math.sqrt(11), abs=1e-15)
  assert stats.t_two_sided_probability(0.0, 7) == 0.0
  assert stats.t_quantile(4, 0.99) == pytest.approx(4.604, abs=5e-4)
  with pytest.raises(ValueError, match="positive integer"):
    stats.t_two_sided_probability(1.0, 0)


def test_t_interval_by_hand():
  values = [0.2, 0.5, 0.35]
  mean = 0.35
  sd = math.sqrt(((0.2 - mean) ** 2 + (0.5 - mean) ** 2) / 2)  # = 0.15
  half = 4.302652729749464 * sd / math.sqrt(3)
  lo, hi = stats.t_interval(values)
  assert (lo, hi) == pytest.approx((mean - half, mean + half), abs=1e-9)
  with pytest.raises(ValueError, match="at least 2"):
    stats.t_interval([0.3])


def test_mean_or_none():
  assert stats.mean_or_none([None, None]) is None
  assert stats.mean_or_none([]) is None
  assert stats.mean_or_none([0.25, None, 0.75]) == 0.5
