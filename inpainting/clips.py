"""Inpainting face clips frame by frame, with a temporal method.

Clips are searched in parallel, one clip per row of the latent search's batch, frame after
frame, so a frame can start from the previous frame's z:

    independent  a random z per frame and --nIter steps each (the paper's pseudo-sequences)
    warm         frame t starts from z of frame t - 1; --nIter_next steps after the first frame
    smooth       warm, plus temporal_weight * |z_t - z_t-1|^2 in each frame's loss
    encoder      each frame starts at the learned encoder's guess; --nIter_next steps each

Frames, keypoint maps: [C, T, S, S, 3] in [-1, 1]; masks [C, T, S, S] (1 = known).
"""
import dataclasses
import glob
import hashlib
import json
import os
import time

import numpy as np

from core.configs import TEMPORAL_METHODS
from facedata import synthetic
from inpainting import masks as mask_lib
from inpainting.blend import poisson_blend
from inpainting.inpaint import composite, pad_batch, write_summary_arrays
from inpainting.metrics import flicker, psnr
from paper.stats import Interval, difference_interval, mean_interval, ratio_interval
from utils import (atomic_path, from_uint8, image_grid, progress_bar, save_gif, save_image, save_json, save_mp4,
                   to_uint8)

METHODS = TEMPORAL_METHODS


class FrameLog:
    """Each searched frame saved as it finishes (frame{t}.npz in `folder`, beside key.json
    naming the inputs and settings), so that a stopped search resumes at the frame it was on.
    Frames saved for other inputs or settings are removed. folder None: nothing is saved."""

    def __init__(self, folder, key):
        self.folder, self.done = folder, []
        if folder is None:
            return
        key_path = os.path.join(folder, "key.json")
        if os.path.exists(key_path):
            with open(key_path) as f:
                same = json.load(f).get("key") == key
            while same and os.path.exists(self.path(len(self.done))):
                with np.load(self.path(len(self.done))) as saved:
                    self.done.append((saved["generated"], saved["z"], int(saved["steps"])))
        if not self.done:
            self.clear()
            os.makedirs(folder, exist_ok=True)
            save_json(key_path, {"key": key})

    def path(self, t):
        return os.path.join(self.folder, f"frame{t:05d}.npz")

    def save(self, t, generated, z, steps):
        if self.folder is not None:
            with atomic_path(self.path(t)) as tmp, open(tmp, "wb") as f:
                np.savez(f, generated=generated, z=z, steps=steps)

    def clear(self):
        remove_frame_log(self.folder)


def remove_frame_log(folder):
    """Remove a FrameLog's files (only those), and its folder if that leaves it empty."""
    if folder is None or not os.path.isdir(folder):
        return
    for old in glob.glob(os.path.join(folder, "frame*.npz")) + glob.glob(os.path.join(folder, "key.json")):
        os.remove(old)
    if not os.listdir(folder):
        os.rmdir(folder)


def random_start(method, t):
    """Whether frame t of `method` starts from a random z (drawn from the search's noise)."""
    return method == "independent" or (method in ("warm", "smooth") and t == 0)


def inpaint_clips(search, frames, keypoint_maps, masks, *, method="independent", n_iter=None, n_iter_next=None,
                  temporal_weight=0.1, z_init=None, resume_dir=None, resume_key=""):
    """The latent search over up to search.config.batch_size clips of T frames, each random
    start a function of the search's seed, the frame and the clip. z_init(images, masks, keypoint_maps) -> z is
    the encoder's start (method "encoder"). With resume_dir each frame is saved as it
    finishes (FrameLog) and a run stopped half-way goes on from there, as if never stopped;
    resume_key names what the arrays and settings do not (the model). Returns
    (G(z) [C, T, S, S, 3], the composites M x + (1 - M) G(z), z [C, T, z_dim], the steps run
    per frame [T])."""
    if method not in METHODS:
        raise ValueError(f"unknown temporal method {method}: use one of {', '.join(METHODS)}")
    if method == "encoder" and z_init is None:
        raise ValueError("method encoder needs z_init (encoder.encoder_z_init)")
    n_iter = search.config.nIter if n_iter is None else n_iter
    n_iter_next = n_iter if n_iter_next is None else n_iter_next
    clips, length = np.asarray(frames).shape[:2]
    size = search.config.batch_size
    generated, zs, steps = [], [], []
    previous = None
    log = FrameLog(resume_dir, _search_key(search, frames, keypoint_maps, masks, method, n_iter, n_iter_next,
                                           temporal_weight, resume_key) if resume_dir else None)
    for fake, previous, count in log.done[:length]:
        generated.append(fake)
        zs.append(previous[:clips])
        steps.append(count)
    if generated:
        print(f"resuming at frame {len(generated)} of {length}: the frames before it are in {resume_dir}")
    for t in progress_bar(range(len(generated), length), total=length - len(generated), desc="frames", unit="frame"):
        images, _ = pad_batch(np.asarray(frames[:, t], np.float32), size)
        maps, _ = pad_batch(np.asarray(keypoint_maps[:, t], np.float32), size)
        holes, _ = pad_batch(np.asarray(masks[:, t], np.float32)[..., None], size)
        anchor, start, count = None, None, n_iter
        if method == "encoder":
            start, count = z_init(images, holes, maps), n_iter_next
        elif not random_start(method, t):  # warm or smooth after the first frame
            start, count = previous, n_iter_next
            anchor = previous if method == "smooth" else None
        # Random starts are numbered by frame and clip: every method starts frame 0 from the same z.
        search.start(start, anchor=anchor, anchor_weight=temporal_weight, first=t * size)
        fake = search.run(images, maps, holes, count)[3]  # G(z) after `count` steps (0: of the start)
        previous = search.z.numpy()
        generated.append(fake[:clips])
        zs.append(previous[:clips])
        steps.append(count)
        log.save(t, fake[:clips], previous, count)
    generated = np.stack(generated, axis=1)
    completed = composite(np.asarray(frames), generated, np.asarray(masks, np.float32)[..., None])
    return generated, completed, np.stack(zs, axis=1), np.array(steps)


def _search_key(search, frames, keypoint_maps, masks, method, n_iter, n_iter_next, temporal_weight, extra):
    """What decides a clip search's frames: the arrays, the method and the search's settings."""
    digest = hashlib.sha256()
    for array in (frames, keypoint_maps, masks):
        digest.update(np.ascontiguousarray(array, np.float32).tobytes())
    settings = {"method": method, "n_iter": n_iter, "n_iter_next": n_iter_next, "temporal_weight": temporal_weight,
                "search": dataclasses.asdict(search.config), "extra": extra}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def score_clips(search, frames, keypoint_maps, masks, *, method="independent", blend_solver="banded", truth=None,
                **options):
    """Inpaint the clips with `method` (options as inpaint_clips), Poisson-blend every frame,
    and score them against `truth` (default: the frames; a video's damaged crops are the
    frames, its clean crops the truth): PSNR per frame [C, T] and flicker per clip [C],
    before and after blending, and the search's seconds per frame (all clips at once).
    Returns (blended frames, scores)."""
    started = time.perf_counter()
    generated, completed, zs, steps = inpaint_clips(search, frames, keypoint_maps, masks, method=method, **options)
    seconds = time.perf_counter() - started
    clips, length = generated.shape[:2]
    flat = (clips * length,) + generated.shape[2:]
    blended = poisson_blend(np.asarray(frames).reshape(flat), generated.reshape(flat),
                            np.asarray(masks).reshape(flat[:3]), solver=blend_solver).reshape(generated.shape)
    truth = np.asarray(frames if truth is None else truth)
    scores = {
        "psnr_before": psnr(completed.reshape(flat), truth.reshape(flat)).reshape(clips, length),
        "psnr_after": psnr(blended.reshape(flat), truth.reshape(flat)).reshape(clips, length),
        "flicker_before": np.array([flicker(completed[c], truth[c], masks[c]) for c in range(clips)]),
        "flicker_after": np.array([flicker(blended[c], truth[c], masks[c]) for c in range(clips)]),
        "seconds_per_frame": seconds / length, "steps": steps,
    }
    return blended, scores


def synthetic_clips(count, frames, size, seed=0):
    """`count` built-in clips (synthetic.synthetic_clip) as (frames, keypoint maps) in [-1, 1]."""
    data = [synthetic.synthetic_clip(seed, c, frames, size) for c in range(count)]
    return from_uint8(np.stack([d[0] for d in data])), from_uint8(np.stack([d[1] for d in data]))


def clip_masks(mask_type, clips, frames, size):
    """[C, T, S, S] masks: `moving` (a block crossing the face) or one mask type of inpainting/masks.py
    on every frame (the frames are face crops, so the face box is the frame)."""
    one = mask_lib.moving(size, frames) if mask_type == "moving" else \
        np.repeat(mask_lib.make_mask(mask_type, size, rng=np.random.default_rng(0))[None], frames, axis=0)
    return np.repeat(one[None].astype(np.float32), clips, axis=0)


def write_clips(out_dir, frames, masks, blended, scores, settings, scale=4):
    """Per clip: clip{c}.mp4 and clip{c}.gif (damaged | inpainted | truth, side by side, the
    frames enlarged `scale` times), strip{c}.png (those three rows over the frames); and
    psnr_before.npy / psnr_after.npy [C, T], flicker_before.npy / flicker_after.npy [C] and
    summary.json (settings and means) for all. Returns the summary."""
    damaged = np.where(masks[..., None] > 0.5, frames, -1.0)
    for c in range(len(frames)):
        side_by_side = np.concatenate([damaged[c], blended[c], frames[c]], axis=2)  # [T, S, 3S, 3]
        video = to_uint8(side_by_side).repeat(scale, axis=1).repeat(scale, axis=2)
        save_mp4(f"{out_dir}/clip{c}.mp4", video)
        save_gif(f"{out_dir}/clip{c}.gif", video, seconds_per_frame=0.125)
        rows = np.concatenate([damaged[c], blended[c], frames[c]], axis=0)
        save_image(f"{out_dir}/strip{c}.png", image_grid(rows, 3))
    summary = dict(settings)
    for name in ("psnr_before", "psnr_after", "flicker_before", "flicker_after"):
        summary[name] = write_summary_arrays(out_dir, name, scores[name])
        summary[name]["count"] = int(np.size(scores[name]))  # frames for PSNR, clips for flicker
    summary["psnr_per_frame_after"] = [float(v) for v in np.mean(scores["psnr_after"], axis=0)]
    summary["seconds_per_frame"] = scores["seconds_per_frame"]
    summary["steps_per_frame"] = [int(s) for s in scores["steps"]]
    save_json(f"{out_dir}/summary.json", summary)
    return summary


def study(search, frames, keypoint_maps, masks, out_dir, *, z_init=None, **options):
    """Every temporal method on the same clips (the encoder's only with z_init): per method
    the mean PSNR after blending, the flicker before and after blending, each with a 95%
    bootstrap interval over the clips, their paired change against `independent`, and the
    seconds and steps per frame. Writes study.md and study.json to out_dir; returns the rows."""
    rows, per_clip = [], {}
    for method in METHODS:
        if method == "encoder" and z_init is None:
            continue
        _, scores = score_clips(search, frames, keypoint_maps, masks, method=method, z_init=z_init, **options)
        per_clip[method] = {"psnr": scores["psnr_after"].mean(axis=1), "flicker_before": scores["flicker_before"],
                            "flicker_after": scores["flicker_after"]}
        rows.append({"method": method, "seconds_per_frame": scores["seconds_per_frame"],
                     "steps_per_frame": [int(s) for s in scores["steps"]]})
    base = per_clip["independent"]
    for row in rows:
        mine = per_clip[row["method"]]
        row["psnr_after"] = mean_interval(mine["psnr"])
        row["psnr_gain"] = difference_interval(mine["psnr"], base["psnr"])
        for when in ("before", "after"):
            row[f"flicker_{when}"] = mean_interval(1e3 * mine[f"flicker_{when}"])
            # how many times less the method flickers than independent, paired over clips
            row[f"flicker_{when}_reduction"] = ratio_interval(base[f"flicker_{when}"], mine[f"flicker_{when}"])
    lines = ["| method | PSNR after blending (dB) | gain over independent | flicker before blending (x 1e-3) | "
             "less than independent | flicker after blending (x 1e-3) | less than independent | "
             "s / frame (all clips) | steps, first / next frames |", "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['method']} | {r['psnr_after'].fmt()} | {r['psnr_gain'].fmt(signed=True)} | "
                     f"{r['flicker_before'].fmt(3)} | {r['flicker_before_reduction'].fmt()}x | "
                     f"{r['flicker_after'].fmt(3)} | {r['flicker_after_reduction'].fmt()}x | "
                     f"{r['seconds_per_frame']:.2f} | {r['steps_per_frame'][0]} / {r['steps_per_frame'][-1]} |")
    clips_count, length = np.asarray(frames).shape[:2]
    text = (f"{clips_count} clips of {length} frames; 95% bootstrap intervals over the clips; flicker on the "
            "[0, 1] scale inside the holes; gains and reductions paired over the same clips.\n\n" + "\n".join(lines))
    with open(f"{out_dir}/study.md", "w") as f:
        f.write(text + "\n")
    save_json(f"{out_dir}/study.json", {"rows": [{k: dataclasses.asdict(v) if isinstance(v, Interval) else v
                                                  for k, v in r.items()} for r in rows]})
    print(text)
    return rows
