import numpy as np
import pytest

from paper import report, stats


def test_interval_of_a_constant_is_the_constant():
    i = stats.mean_interval(np.full(50, 3.25))
    assert (i.value, i.low, i.high) == (3.25, 3.25, 3.25)
    assert i.significant


def test_interval_of_a_fair_coin_matches_the_binomial():
    # 200 zeros and 200 ones: the mean's sampling sd is sqrt(0.25 / 400) = 0.025, so the 95%
    # interval is 0.5 +- 1.96 * 0.025 = [0.451, 0.549].
    values = np.r_[np.zeros(200), np.ones(200)]
    i = stats.mean_interval(values)
    assert i.value == 0.5
    assert i.low == pytest.approx(0.451, abs=0.006) and i.high == pytest.approx(0.549, abs=0.006)
    assert i.significant  # excludes zero
    assert not stats.mean_interval(values - 0.5).significant


def test_paired_difference_removes_the_shared_variation():
    rng = np.random.default_rng(0)
    faces = rng.normal(25, 3, 300)               # faces differ a lot ...
    a, b = faces + 0.5, faces                    # ... the method gains 0.5 dB on every face
    paired = stats.difference_interval(a, b)
    assert paired.value == pytest.approx(0.5) and paired.high - paired.low < 1e-9
    assert paired.significant
    # Unpaired, the same gain is lost in the spread between faces.
    assert stats.mean_interval(a).low < stats.mean_interval(b).high


def test_ratio_interval_and_pairing():
    rng = np.random.default_rng(1)
    b = rng.uniform(1, 3, 100)
    i = stats.ratio_interval(2 * b, b)
    assert i.value == pytest.approx(2) and i.low == pytest.approx(2) and i.high == pytest.approx(2)
    with pytest.raises(ValueError, match="paired"):
        stats.difference_interval(np.ones(3), np.ones(4))


def test_coverage_on_normal_data():
    # Over 200 samples of 100 draws from N(0, 1), the 95% interval holds the true mean 0 in
    # about 95% of them (binomial sd 1.5%: accept 89% to 99%).
    rng = np.random.default_rng(2)
    covered = 0
    for k in range(200):
        i = stats.bootstrap(rng.normal(0, 1, 100), resamples=2000, seed=k)
        covered += i.low <= 0 <= i.high
    assert 0.89 <= covered / 200 <= 0.99


def test_tables_mark_significant_gains():
    values = {"ours": {"center": np.full(10, 27.0)}, "base": {"center": np.full(10, 26.0)},
              "same": {"center": np.r_[np.full(5, 26.5), np.full(5, 27.5)]}}
    lines = report.gain_table("t", "ours", [("base", "B"), ("same", "S")], ["center"], values,
                              {"center": "center"})
    assert lines[-2] == "| B | +1.00 [+1.00, +1.00] * |"
    assert lines[-1].startswith("| S | +0.00 [") and "*" not in lines[-1]
    rows = report.psnr_table("t", [("ours", "O")], ["center"], values, {"center": "center"})
    assert rows[-1] == "| O | 27.00 [27.00, 27.00] |"
    assert stats.seed_spread([1.0]) == "" and stats.seed_spread([1.0, 3.0]) == "2.00 +- 1.41 over 2 seeds"
