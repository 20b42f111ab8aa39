"""Error bars: percentile-bootstrap intervals over test units.

Every figure of the comparison is a mean over test units (faces for PSNR, subjects for
consistency) with a 95% percentile-bootstrap interval over those units; a gain is the
paired difference on the same units, so the variation between faces, which all methods
share, cancels. A gain is called significant when its interval excludes zero. With several
training seeds, a unit's value is first averaged over seeds and the spread of the per-seed
means is reported beside it (the interval covers the test faces, the spread the training).
"""
import dataclasses

import numpy as np

RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclasses.dataclass
class Interval:
    value: float
    low: float
    high: float

    @property
    def significant(self):
        """The interval excludes zero (for a difference)."""
        return self.low > 0 or self.high < 0

    def fmt(self, digits=2, signed=False):
        sign = "+" if signed else ""
        return f"{self.value:{sign}.{digits}f} [{self.low:{sign}.{digits}f}, {self.high:{sign}.{digits}f}]"


def _mean(x):
    return x.mean(axis=-1)


def bootstrap(*samples, statistic=_mean, resamples=RESAMPLES, confidence=CONFIDENCE, seed=0):
    """Percentile-bootstrap interval of statistic(*samples). The samples are paired: one
    resample draws the same units from each. statistic reduces the last axis (vectorised).
    """
    samples = [np.asarray(s, np.float64) for s in samples]
    n = len(samples[0])
    if n == 0 or any(len(s) != n for s in samples):
        raise ValueError(f"bootstrap needs paired, non-empty samples (lengths {[len(s) for s in samples]})")
    picks = np.random.default_rng(seed).integers(0, n, (resamples, n))
    values = statistic(*(s[picks] for s in samples))
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(float(statistic(*samples)), float(low), float(high))


def mean_interval(values, **kw):
    return bootstrap(values, **kw)


def difference_interval(a, b, **kw):
    """Mean of the paired differences a - b."""
    return bootstrap(a, b, statistic=lambda x, y: (x - y).mean(axis=-1), **kw)


def ratio_interval(a, b, **kw):
    """mean(a) / mean(b) over the same units."""
    return bootstrap(a, b, statistic=lambda x, y: x.mean(axis=-1) / y.mean(axis=-1), **kw)


def seed_spread(per_seed_means):
    """'mean +- sd over N seeds' of per-seed means, or '' for one seed."""
    v = np.asarray(per_seed_means, np.float64)
    return "" if len(v) < 2 else f"{v.mean():.2f} +- {v.std(ddof=1):.2f} over {len(v)} seeds"
