"""The keypoint map a user can give, measured (experiments.py --keypoint_study: run_study, then write_study).

The paper draws each test face's map from the landmarks of the clean face; a user has only
the damaged one. On real test pairs, under every mask of --masks, the conditioned model
fills each face three times, with the map from (configs.KEYPOINT_SOURCES):
  clean     dlib on the photo before the hole was made (the paper's protocol),
  dlib      dlib on the damaged photo as it is, hole and all (what photos got before),
  estimate  photo.damaged_landmarks: dlib on the photo with the hole filled by the mean
            face, the points in and near the hole from the shape model (what a user gets).
The damage is drawn on the photo over the face's box, as complete.py --image draws it; the
search sees the test pair's crop with the hole, as every table of the comparison. Reported:
the landmark error on the points the hole hides (over the distance between the eyes), PSNR,
SSIM and speckle after blending with paired intervals, and the share of the clean map's
gain over dlib's that the estimate recovers. Writes <results>/keypoints.md, keypoints.json,
figures/keypoints_<mask>.png, and each fill's files under keypoints/<source>/<mask>/.

Needs test pairs made from photos: preprocess_test_images.py's manifest.json names each
face's photo and box.
"""
import json
import os

import numpy as np

from core.configs import KEYPOINT_SOURCES as SOURCES, MODEL_FOLDERS
from paper.stats import bootstrap, difference_interval, mean_interval, ratio_interval
from utils import UserError, atomic_path, save_json, save_npz

EYES = (slice(36, 42), slice(42, 48))
TITLES = {"clean": "map from the clean face (the paper's protocol)",
          "dlib": "map from dlib on the damaged face",
          "estimate": "map estimated from the damaged face (what a user gets)"}


def study_dir(config):
    return os.path.join(config.results, "keypoints")


def checkpoint_dir(config):
    return os.path.join(config.models, MODEL_FOLDERS["conditioned"])


def test_manifest(test_dir):
    """The faces of a test folder's manifest.json ([{source, box, landmarks, ...}]) and the
    crop size its landmarks are in; one clear line if the pairs are not from photos."""
    path = os.path.join(test_dir, "manifest.json")
    if not os.path.exists(path):
        raise UserError(f"no manifest.json in {test_dir}: --keypoint_study needs test pairs made from photos by "
                        "preprocess_test_images.py (it names each face's photo and box)")
    with open(path) as f:
        manifest = json.load(f)
    faces = manifest["faces"]
    if not faces or "box" not in faces[0] or not os.path.exists(faces[0]["source"]):
        missing = faces[0]["source"] if faces else "no faces"
        raise UserError(f"the pairs in {test_dir} do not name photos that are here ({missing}): --keypoint_study "
                        "draws the damage on each face's photo; make the pairs from photos with "
                        "preprocess_test_images.py")
    return faces, manifest.get("size", 128)


def hidden_truth(clean, masks):
    """[N, 68] True where a clean landmark ([N, 68, 2] crop pixels) lies in the hole of its
    face's mask ([N, S, S], 1 = known); points outside the crop are not hidden."""
    size = masks.shape[1]
    x, y = np.round(clean[..., 0]).astype(int), np.round(clean[..., 1]).astype(int)
    inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
    known = masks[np.arange(len(masks))[:, None], np.clip(y, 0, size - 1), np.clip(x, 0, size - 1)]
    return inside & (known < 0.5)


def landmark_error(points, clean, hidden):
    """Per face, the mean distance of the hidden landmarks from the clean face's, over the
    distance between the clean face's eye centres; NaN for a face with none hidden."""
    eyes = np.linalg.norm(clean[:, EYES[0]].mean(axis=1) - clean[:, EYES[1]].mean(axis=1), axis=1)
    error = np.linalg.norm(points - clean, axis=-1) / eyes[:, None]
    with np.errstate(invalid="ignore"):
        return np.where(hidden.any(axis=1), (error * hidden).sum(axis=1) / hidden.sum(axis=1), np.nan)


def landmarks(config, test_dir, mask_type, size):
    """{source: [N, 68, 2] crop pixels} of the test faces under mask_type, and the masks:
    computed once and kept in keypoints/landmarks_<mask>.npz."""
    from facedata.faces import FaceFinder, load_rgb
    from facedata.shape import load_face_prior
    from inpainting import masks as mask_lib
    from inpainting.photo import face_landmarks, mask_on_box
    from utils import progress_bar
    faces, record_size = test_manifest(test_dir)
    faces = faces[:config.test_faces] if config.test_faces else faces
    masks = mask_lib.masks_for(len(faces), size, mask_type, seed=config.seed)
    path = os.path.join(study_dir(config), f"landmarks_{mask_type}.npz")
    if os.path.exists(path):
        with np.load(path) as saved:
            if len(saved["clean"]) == len(faces):
                return {s: saved[s] for s in SOURCES}, masks
    finder, prior = FaceFinder(None, size), load_face_prior(checkpoint_dir(config))
    found = {s: [] for s in SOURCES}
    for face, mask in zip(progress_bar(faces, desc=f"landmarks ({mask_type})", unit="face"), masks):
        photo = load_rgb(face["source"])
        box = tuple(face["box"])
        photo_mask = mask_on_box(mask, box, *photo.shape[:2])
        damaged = (photo * photo_mask[..., None]).astype(np.uint8)
        found["clean"].append((np.asarray(face["landmarks"], np.float64) + 0.5) * size / record_size - 0.5)
        for source in ("dlib", "estimate"):
            found[source].append(face_landmarks(source, finder, photo, damaged, box, photo_mask, size, prior).landmarks)
    found = {s: np.stack(v).astype(np.float64) for s, v in found.items()}
    save_npz(path, **found)
    return found, masks


def study_part(config, test_dir, mask_type, sources):
    """The fills of one mask with the maps of `sources` (a job of its own): correctness
    under keypoints/<source>/<mask>/, and the landmark errors beside them."""
    from facedata import dataset
    from facedata.keypoints import draw_keypoint_map
    from inpainting.inpaint import LatentSearch, load_model
    from paper import comparison, evaluation
    from utils import from_uint8
    gan = load_model(checkpoint_dir(config), generator=comparison.generator_weights(config))
    size = gan.config.output_size
    images, _, names = dataset.load_test_pairs(test_dir, size, config.test_faces)
    found, masks = landmarks(config, test_dir, mask_type, size)
    hidden = hidden_truth(found["clean"], masks)
    search = LatentSearch(gan, comparison.search_config(config, config.seed))
    for number, source in enumerate(sources, 1):
        out = os.path.join(study_dir(config), source, mask_type)
        maps = from_uint8(np.stack([draw_keypoint_map(p, size) for p in found[source]]))
        evaluation.correctness(gan, search, images, maps, masks, out, mask_name=mask_type, names=names)
        np.save(os.path.join(out, "landmark_error.npy"), landmark_error(found[source], found["clean"], hidden))
        np.save(os.path.join(out, "hidden_points.npy"), hidden.sum(axis=1))
        print(f"part {number}/{len(sources)} done: {source}", flush=True)


def run_study(config, test_dir):
    """Run the study's parts as jobs (config.jobs at a time, one op at a time each, as the
    comparison's evaluations); write_study then makes its tables and figures."""
    from training.jobs import ONE_OP_AT_A_TIME, Job, run_jobs
    test_manifest(test_dir)
    mask_types = config.masks.split(",")
    # A job per mask and map; the landmarks of a mask are computed by its first job, which the others wait for.
    jobs = [Job(f"keypoints {m}: {source}", study_part, (config, test_dir, m, [source]),
                os.path.join(study_dir(config), f"{m}_{source}.log"), env=ONE_OP_AT_A_TIME,
                after=None if source == SOURCES[0] else f"keypoints {m}: {SOURCES[0]}")
            for m in mask_types for source in SOURCES]
    print(f"keypoint study: the conditioned model of {config.models} on {test_dir}, masks {config.masks}, maps "
          f"{', '.join(SOURCES)}; {config.nIter} search steps; {config.jobs} jobs at a time", flush=True)
    run_jobs(jobs, config.jobs)


def collect(config, mask_types):
    """values[measure][source][mask]: per-face arrays (psnr/ssim/laplacian after blending,
    landmark error), and the truth's Laplacian energy per mask."""
    values, truth = {}, {}
    for source in SOURCES:
        for m in mask_types:
            folder = os.path.join(study_dir(config), source, m)
            for measure, file in (("psnr", "psnr_after"), ("ssim", "ssim_after"), ("laplacian", "laplacian_after"),
                                  ("landmarks", "landmark_error")):
                values.setdefault(measure, {}).setdefault(source, {})[m] = np.load(os.path.join(folder, f"{file}.npy"))
            truth[m] = np.load(os.path.join(folder, "laplacian_truth.npy"))
    return values, truth


def recovery_interval(clean, dlib, estimate):
    """The share of the clean map's mean gain over dlib's that the estimate recovers,
    mean(estimate - dlib) / mean(clean - dlib), with its paired bootstrap interval."""
    return bootstrap(clean, dlib, estimate,
                     statistic=lambda c, d, e: (e - d).mean(axis=-1) / (c - d).mean(axis=-1))


def summarise(values, truth, mask_types):
    out = {}
    for m in mask_types:
        entry = out.setdefault(m, {})
        for source in SOURCES:
            for measure in ("psnr", "ssim"):
                i = mean_interval(values[measure][source][m])
                entry.setdefault(measure, {})[source] = {"mean": i.value, "ci95": [i.low, i.high]}
            i = ratio_interval(values["laplacian"][source][m], truth[m])
            entry.setdefault("speckle", {})[source] = {"mean": i.value, "ci95": [i.low, i.high]}
        errors = values["landmarks"]
        seen = ~np.isnan(errors["clean"][m])
        entry["faces_with_hidden_landmarks"] = int(seen.sum())
        for source in ("dlib", "estimate"):
            i = mean_interval(errors[source][m][seen]) if seen.any() else None
            entry.setdefault("landmark_error", {})[source] = None if i is None else {"mean": i.value,
                                                                                     "ci95": [i.low, i.high]}
        for measure in ("psnr", "ssim"):
            v = values[measure]
            gains = {"clean - dlib": difference_interval(v["clean"][m], v["dlib"][m]),
                     "estimate - dlib": difference_interval(v["estimate"][m], v["dlib"][m]),
                     "clean - estimate": difference_interval(v["clean"][m], v["estimate"][m])}
            entry[f"{measure}_gains"] = {k: {"mean": g.value, "ci95": [g.low, g.high], "significant": g.significant}
                                         for k, g in gains.items()}
            r = recovery_interval(v["clean"][m], v["dlib"][m], v["estimate"][m])
            entry[f"{measure}_recovered"] = {"mean": r.value, "ci95": [r.low, r.high]}
    return out


def write_study(config, test_dir, mask_types, run=None):
    """keypoints.md, keypoints.json and the figures of a finished study; returns the summary."""
    from paper.report import MASK_TITLES, machine
    values, truth = collect(config, mask_types)
    summary = summarise(values, truth, mask_types)
    faces = len(values["psnr"]["clean"][mask_types[0]])
    titles = [MASK_TITLES.get(m, m) for m in mask_types]
    header = ["| | " + " | ".join(titles) + " |", "|---|" + "---|" * len(mask_types)]
    lines = [f"# The keypoint map a user can give: {config.models} on {test_dir}", "",
             f"The conditioned model of `{config.models}` on {faces} test faces, {config.nIter} latent-search steps, "
             f"masks drawn on each face's photo (strokes: one per face from seed {config.seed}). Mean [95% bootstrap "
             "interval over the faces]; gains are paired differences on the same faces (* excludes zero)."]
    if run:
        lines += ["", f"`{run['command']}` at commit {run['commit']}: {run['minutes']:.1f} min on {machine()}."]
    lines += ["", "## Landmark error on the points the hole hides", "",
              "Mean distance from the clean face's landmarks, over the distance between its eyes, of the landmarks "
              "the hole hides (faces with at least one hidden):", ""] + header
    lines.append("| faces | " + " | ".join(str(summary[m]["faces_with_hidden_landmarks"]) for m in mask_types) + " |")
    for source in ("dlib", "estimate"):
        cells = []
        for m in mask_types:
            e = summary[m]["landmark_error"][source]
            cells.append("-" if e is None else f"{e['mean']:.3f} [{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}]")
        lines.append(f"| {TITLES[source]} | " + " | ".join(cells) + " |")
    for measure, name, digits in (("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 3)):
        lines += ["", f"## {name} after blending", ""] + header
        for source in SOURCES:
            lines.append(f"| {TITLES[source]} | " + " | ".join(
                mean_interval(values[measure][source][m]).fmt(digits) for m in mask_types) + " |")
        for gain in ("clean - dlib", "estimate - dlib", "clean - estimate"):
            cells = []
            for m in mask_types:
                g = summary[m][f"{measure}_gains"][gain]
                cells.append(f"{g['mean']:+.{digits}f} [{g['ci95'][0]:+.{digits}f}, {g['ci95'][1]:+.{digits}f}]"
                             + (" *" if g["significant"] else ""))
            lines.append(f"| gain: {gain} | " + " | ".join(cells) + " |")
        shares = [summary[m][f"{measure}_recovered"] for m in mask_types]
        cells = [f"{r['mean']:.0%} [{r['ci95'][0]:.0%}, {r['ci95'][1]:.0%}]" for r in shares]
        lines.append("| share of the clean map's gain over dlib's that the estimate recovers | " + " | ".join(cells)
                     + " |")
    lines += ["", "## Speckle after blending (the fill's Laplacian energy over the truth's)", ""] + header
    for source in SOURCES:
        lines.append(f"| {TITLES[source]} | " + " | ".join(
            ratio_interval(values["laplacian"][source][m], truth[m]).fmt(2) for m in mask_types) + " |")
    lines += ["", "Figures: `figures/keypoints_<mask>.png` (damaged face, then each map and its fill after blending, "
              "then the truth)."]
    with atomic_path(os.path.join(config.results, "keypoints.md")) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
    save_json(os.path.join(config.results, "keypoints.json"),
              {"settings": {"models": config.models, "test_dir": test_dir, "masks": mask_types, "nIter": config.nIter,
                            "seed": config.seed, "test_faces": faces}, "run": run, "machine": machine(),
               "results": summary})
    write_figures(config, test_dir, mask_types)
    return summary


def write_figures(config, test_dir, mask_types, examples=4):
    """figures/keypoints_<mask>.png: the first faces damaged, each source's map and fill."""
    from facedata import dataset
    from facedata.keypoints import draw_keypoint_map
    from inpainting import masks as mask_lib
    from paper.figures import fills_figure
    from utils import save_image, to_uint8
    for m in mask_types:
        with np.load(os.path.join(study_dir(config), f"landmarks_{m}.npz")) as saved:
            found = {s: saved[s][:examples] for s in SOURCES}
        fills = {s: np.load(os.path.join(study_dir(config), s, m, "examples.npz"))["after"][:examples]
                 for s in SOURCES}
        shown, size = fills["clean"].shape[:2]
        images = dataset.load_test_pairs(test_dir, size, shown)[0]
        holes = mask_lib.masks_for(shown, size, m, seed=config.seed)
        columns = [("damaged", to_uint8(images * holes[..., None]))]
        for s in SOURCES:
            columns += [(f"{s} map", np.stack([draw_keypoint_map(p, size) for p in found[s]])), (f"{s} fill", fills[s])]
        columns.append(("truth", to_uint8(images)))
        save_image(os.path.join(config.results, "figures", f"keypoints_{m}.png"), fills_figure(columns, examples=shown))
