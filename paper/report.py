"""The report of experiments.py: results.md (tables with intervals) and results.json.

Reads the per-face .npy files the experiments wrote under the results folder and turns
them into means with 95% bootstrap intervals (paper/stats.py), paired gains of the conditioned
model over each other method, consistency ratios and, with several training seeds, their
spread. `settings` is the run's settings as a dict (experiments.py's flags).
"""
import os
import platform

import numpy as np

from paper.stats import difference_interval, mean_interval, ratio_interval, seed_spread
from utils import atomic_path

METHODS = (  # key, title, arch, conditional
    ("conditioned", "keypoint-conditioned ECGAN (the paper's model)", "ecgan", True),
    ("dip", "DIP: the authors' DCGAN", "dcgan", False),
    ("ablation", "ECGAN without its map (ablation)", "ecgan", False),
)
MEAN_FACE = ("mean_face", "mean training face, no GAN")
PAPER_TABLE = {  # CelebA PSNR (dB), the paper's results image
    64: {"dip": (24.96, 18.51, 17.13, 24.53), "conditioned": (26.32, 19.97, 18.42, 25.86)},
    128: {"dip": (23.91, 18.36, 17.23, 23.72), "conditioned": (24.84, 19.12, 18.21, 24.68)},
}
MASK_TITLES = {"center": "center", "checkboard": "checkboard", "left": "left", "freehand_poly": "freehand",
               "strokes": "painted strokes"}


PHASES = (("after", "after Poisson blending"), ("before", "before blending"))
MEASURES = (("psnr", "PSNR", "dB", 2), ("ssim", "SSIM", "", 3))  # key, title, unit, digits


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


def speckle_table(title, methods, masks, laplacian, truth, mask_titles):
    """Rows of the fill's Laplacian energy in the hole over the truth's: ratio [interval]."""
    lines = [title, "", "| method | " + " | ".join(mask_titles[m] for m in masks) + " |",
             "|---|" + "---|" * len(masks)]
    for key, name in methods:
        lines.append(f"| {name} | " + " | ".join(ratio_interval(laplacian[key][m], truth[m]).fmt(2) for m in masks)
                     + " |")
    return lines


def collect(results, keys, seeds, mask_types):
    """Per-unit arrays of every method, averaged over the training seeds, and the per-seed
    means: values[measure][phase][key][mask] over faces (measure psnr, ssim or laplacian);
    truth[mask], the Laplacian energy of the truth in each face's hole; consistency[phase][key]
    over subjects (each subject's mean over its pairs), in units of 1e-3."""
    values, per_seed, truth = {}, {}, {}
    consistency = {phase: {} for phase, _ in PHASES}
    for key in keys:
        for measure in ("psnr", "ssim", "laplacian"):
            for phase, _ in PHASES:
                for m in mask_types:
                    runs = [np.load(os.path.join(results, "completions", key, f"seed{s}", m, f"{measure}_{phase}.npy"))
                            for s in seeds]
                    values.setdefault(measure, {}).setdefault(phase, {}).setdefault(key, {})[m] = np.mean(runs, 0)
                    per_seed.setdefault(measure, {}).setdefault(phase, {}).setdefault(key, {})[m] = [
                        float(r.mean()) for r in runs]
        for phase, _ in PHASES:
            runs = [np.load(os.path.join(results, "consistency", key, f"seed{s}", f"consistency_{phase}.npy"))
                    for s in seeds]
            consistency[phase][key] = 1e3 * np.mean(runs, axis=0).mean(axis=1)
    for m in mask_types:
        truth[m] = np.load(os.path.join(results, "completions", keys[0], f"seed{seeds[0]}", m, "laplacian_truth.npy"))
    return values, per_seed, truth, consistency


def add_mean_face(values, floor):
    """The mean-face fill's measures (evaluation.mean_face_baseline) beside the methods'."""
    for measure in values:
        for phase in values[measure]:
            values[measure][phase][MEAN_FACE[0]] = {m: floor[m][f"{measure}_{phase}"] for m in floor}


def interval_entry(i):
    return {"mean": i.value, "ci95": [i.low, i.high]}


def summarise(keys, mask_types, values, per_seed, truth, consistency):
    """The JSON form of the comparison: every mean with its interval and seed spread, every
    gain, every speckle ratio, every consistency figure. PSNR under after/before, SSIM under
    ssim_after/ssim_before, their gains under gain_* and ssim_gain_*."""
    out = {}
    others = [k for k in keys[1:]] + [MEAN_FACE[0]]
    for measure, *_ in MEASURES:
        prefix = "" if measure == "psnr" else f"{measure}_"
        for phase, _ in PHASES:
            for key in list(keys) + [MEAN_FACE[0]]:
                for m in mask_types:
                    entry = interval_entry(mean_interval(values[measure][phase][key][m]))
                    entry["per_seed_means"] = per_seed[measure][phase].get(key, {}).get(m)
                    out.setdefault(prefix + phase, {}).setdefault(key, {})[m] = entry
            for key in others:
                for m in mask_types:
                    g = difference_interval(values[measure][phase]["conditioned"][m], values[measure][phase][key][m])
                    out.setdefault(f"{prefix}gain_{phase}", {}).setdefault(key, {})[m] = dict(
                        interval_entry(g), significant=g.significant)
    for phase, _ in PHASES:
        for key in list(keys) + [MEAN_FACE[0]]:
            for m in mask_types:
                out.setdefault(f"speckle_{phase}", {}).setdefault(key, {})[m] = interval_entry(
                    ratio_interval(values["laplacian"][phase][key][m], truth[m]))
        for key in keys:
            i = mean_interval(consistency[phase][key])
            out.setdefault(f"consistency_{phase}", {})[key] = {"mean_1e-3": i.value, "ci95": [i.low, i.high]}
    return out


def write_table(settings, path, methods, values, per_seed, truth, consistency, run, decoupling=None, study=None):
    """results.md. settings: the comparison's (a dict of experiments.py's flags); methods:
    the compared (key, title, ...) rows; run: {"minutes", "command", "commit"}."""
    s = settings
    mask_types = s['masks'].split(",")
    titles = {m: MASK_TITLES.get(m, m) for m in mask_types}
    rows = [(key, title) for key, title, *_ in methods] + [MEAN_FACE]
    faces = len(values["psnr"]["after"]["conditioned"][mask_types[0]])
    subjects = len(consistency["after"]["conditioned"])
    lines = [f"# Results: {'synthetic faces' if not s['train_records'] else s['train_records']}, "
             f"{s['output_size']}x{s['output_size']}", "",
             f"Settings: {s['train_steps']} training steps at batch {s['batch_size']} (Adam {s['learning_rate']}, "
             f"beta1 {s['beta1']}), gf_dim {s['gf_dim']}, df_dim {s['df_dim']}, "
             + (f"the conditioned G upsampling by {s['upsample']} convs (kernel {s['deconv_kernel'] or 5}), "
                if s.get('upsample', 'transposed') != 'transposed' or s.get('deconv_kernel') else "")
             + (f"weights averaged (decay {s['ema_decay']}) " if s['ema_decay'] else "G's own weights ")
             + f"for every model; {s['nIter']} latent-search steps per image (Adam, lam {s['lam']}); data seed "
             f"{s['seed']}, training seeds {s['seed']}..{s['seed'] + s['seeds'] - 1}; {faces} test faces, "
             f"{subjects} consistency subjects.", "",
             f"`{run['command']}` at commit {run['commit']}: {run['minutes']:.1f} min on {machine()}.", "",
             f"Mean [95% bootstrap interval over the {faces} test faces]; PSNR in dB and SSIM on the [0, 1] scale. "
             "Gains are paired differences on the same faces; * marks an interval that excludes zero. Speckle: the "
             "energy of the fill's Laplacian inside the hole over the truth's (1: as much fine detail as the face; "
             "grid speckle makes it larger, a blurred fill smaller), a ratio of means with its interval."]
    others = [(key, title) for key, title in rows[1:]]
    for phase, words in PHASES:
        for measure, name, unit, digits in MEASURES:
            lines += [""] + psnr_table(f"## {name} {words}", rows, mask_types, values[measure][phase], titles, digits)
            lines += [""] + gain_table(f"### {'Gains' if measure == 'psnr' else name + ' gains'} {words}"
                                       + (f" ({unit})" if unit else ""), "conditioned", others, mask_types,
                                       values[measure][phase], titles, digits)
        lines += [""] + speckle_table(f"## Speckle {words}", rows, mask_types, values["laplacian"][phase], truth,
                                      titles)
    lines += ["", f"## Consistency ({s['temporal_mask']} masks)", "",
              f"Mean pairwise MSE between the 8 inpaintings of one face under random {s['temporal_mask']} masks, "
              f"x 1e-3 on the [0, 1] scale (lower is more consistent): mean [95% interval over {subjects} subjects]; "
              "the ratio is the method's MSE over the conditioned model's.", "",
              "| method | before blending | after blending | ratio before | ratio after |", "|---|---|---|---|---|"]
    for key, title in rows[:-1]:
        cells = [mean_interval(consistency[p][key]).fmt(3) for p in ("before", "after")]
        ratios = ["1" if key == "conditioned" else
                  ratio_interval(consistency[p][key], consistency[p]["conditioned"]).fmt(2)
                  for p in ("before", "after")]
        lines.append(f"| {title} | " + " | ".join(cells + ratios) + " |")
    if s['seeds'] > 1:
        lines += ["", f"## Spread over the {s['seeds']} training seeds (mean PSNR after blending: mean +- sd)", "",
                  "| method | " + " | ".join(titles.values()) + " |", "|---|" + "---|" * len(mask_types)]
        for key, title in rows[:-1]:
            lines.append(f"| {title} | " + " | ".join(seed_spread(per_seed["psnr"]["after"][key][m])
                                                      for m in mask_types) + " |")
    paper = PAPER_TABLE.get(s['output_size'])
    if paper and set(mask_types) >= set(MASK_TITLES):
        lines += ["", f"The paper's CelebA table at {s['output_size']}x{s['output_size']} (PSNR, dB):", "",
                  "| method | center | checkboard | left | freehand |", "|---|---|---|---|---|"]
        for key, title in rows[:-1]:
            if key in paper:
                lines.append(f"| {title} | " + " | ".join(f"{v:.2f}" for v in paper[key]) + " |")
    if decoupling:
        lines += ["", "Pose/appearance decoupling of the conditioned generator over 8 maps x 8 z "
                  "(variance of the one-factor means, [0, 1] scale): appearance (mean colour inside each "
                  "map's face region) "
                  f"{decoupling['appearance_from_z']:.5f} from z vs {decoupling['appearance_from_map']:.5f} "
                  f"from the map; structure (image minus its mean colour) {decoupling['structure_from_map']:.5f} "
                  f"from the map vs {decoupling['structure_from_z']:.5f} from z."]
    if study:
        lines += encoder_table(settings, study)
    if run.get("phases"):
        lines += [""] + time_lines(run)
    lines += ["", "Figures: `figures/fills_<mask>.png` (truth, damaged, each method's fill after blending, the mean "
              "face's), `figures/sample_<method>.png` (samples of the model each method is evaluated with), "
              "`figures/same_k_diff_z.png`, `figures/same_z_diff_k.png`; completions in "
              "`completions/<method>/seed<s>/<mask>/`, consistency GIFs in `consistency/<method>/seed<s>/`."]
    text = "\n".join(lines) + "\n"
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
    return text


def time_lines(run):
    """Where a run's time went: its phases and, within training and evaluation, each job
    (start and end, minutes from that phase's start; a training's milliseconds a step)."""
    lines = ["## Where the time went", "", f"On {machine()}, {run['minutes']:.1f} min in all:", "",
             "| phase or job | minutes | from - to | ms a step |", "|---|---|---|---|"]
    for name, minutes in run.get("phases", []):
        lines.append(f"| {name} | {minutes:.1f} | | |")
        if name.startswith("training and evaluat") or name.startswith("evaluating"):
            for job, start, end, ms in run.get("jobs", []):
                lines.append(f"| - {job} | {end - start:.1f} | {start:.1f} - {end:.1f} | "
                             + ("" if ms is None else f"{ms:.0f}") + " |")
    return lines


def encoder_table(settings, study):
    s = settings
    milestones = study["milestones"]
    lines = ["", f"## Learned initialiser (conditioned model; encoder trained {s['encoder_steps']} steps, "
             f"{study['encoder_training_seconds'] / 60:.1f} min)", "",
             "PSNR after blending (dB) after N search steps, random start / encoder start:", "",
             "| mask | " + " | ".join(f"N={n}" for n in milestones) + " | encoder steps to match random@"
             f"{milestones[-1]} | random steps to match encoder@0 |", "|---|" + "---|" * (len(milestones) + 2)]
    for m, r in study["masks"].items():
        cells = [f"{r['curves']['random'][n]:.2f} / {r['curves']['encoder'][n]:.2f}" for n in milestones]
        match = "not reached" if r["encoder_steps_to_match"] is None else \
            f"{r['encoder_steps_to_match']} ({r['speedup']:.1f}x fewer)"
        feed_forward = r["random_steps_to_match_encoder_0"]
        feed_forward = f">{milestones[-1]}" if feed_forward is None else str(feed_forward)
        lines.append(f"| {MASK_TITLES.get(m, m)} | " + " | ".join(cells) + f" | {match} | {feed_forward} |")
    lines += ["", f"Consistency ({s['temporal_mask']} masks, pairwise MSE after blending, [0, 1] scale):", ""]
    for key, value in study.items():
        if key.startswith("consistency_"):
            _, z_init, steps = key.split("_")
            lines.append(f"- {z_init} start, {steps} steps: {value['consistency_after_blending']['mean']:.5f} "
                         f"(PSNR {value['psnr_after_blending']['mean']:.2f} dB)")
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
