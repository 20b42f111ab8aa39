"""Error bars and the results table of experiments.py.

Every figure of the comparison is a mean over test units (faces for PSNR, subjects for
consistency) with a 95% percentile-bootstrap interval over those units; a gain is the
paired difference on the same units, so the variation between faces, which all methods
share, cancels. A gain is called significant when its interval excludes zero. With several
training seeds, a unit's value is first averaged over seeds and the spread of the per-seed
means is reported beside it (the interval covers the test faces, the spread the training).
"""
import dataclasses
import os
import platform

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


def psnr_table(title, methods, masks, values, mask_titles, digits=2):
    """Markdown rows: one per method, a 'mean [low, high]' cell per mask.
    values[method][mask]: per-unit array."""
    lines = [title, "", "| method | " + " | ".join(mask_titles[m] for m in masks) + " |",
             "|---|" + "---|" * len(masks)]
    for key, name in methods:
        lines.append(f"| {name} | " + " | ".join(mean_interval(values[key][m]).fmt(digits) for m in masks) + " |")
    return lines


def gain_table(title, ours, others, masks, values, mask_titles, digits=2):
    """Markdown rows of paired gains of `ours` over each of `others` ((key, name) pairs),
    a '*' after the significant ones."""
    lines = [title, "", "| gain of the conditioned model over | " + " | ".join(mask_titles[m] for m in masks)
             + " |", "|---|" + "---|" * len(masks)]
    for key, name in others:
        cells = []
        for m in masks:
            gain = difference_interval(values[ours][m], values[key][m])
            cells.append(gain.fmt(digits, signed=True) + (" *" if gain.significant else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def machine():
    """'CPU model, N cores, AVX-512 or AVX2 only': what a reported time depends on."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} cores, {vector}"
