"""The consistency experiment: each face inpainted under 8 different masks of one type.

    python temporal.py --batch_size=64 --output_size=128 --maskType center
    python temporal.py --synthetic 64 --maskType checkboard --nIter 200

A batch of 64 holds 8 subjects x 8 masks (batch_size / masks_per_subject subjects); each
slot's mask is randomised as in the original (center scale ~ U(0.20, 0.30), checkboard tile
from {8, 16, 32}, one of four freehand polygons), drawn from --seed. Consistency is the mean
pairwise MSE between the inpaintings of one subject (all pairs j < k), before and after
blending, on the [0, 1] scale; each inpainting's PSNR against the truth is reported beside
it. Writes to --outDir: subject_{i}.gif (the 8 inpaintings, as in the original README),
subject_{i}.png (masked inputs above inpaintings), consistency_before.npy /
consistency_after.npy ([subjects, pairs]), psnr_before.npy / psnr_after.npy and summary.json.
"""
import argparse
import os
import time

import numpy as np
from tqdm import tqdm

import complete
import masks as mask_lib
from utils import UserError, run_cli, save_gif, save_image, save_json, to_uint8


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    complete.add_search_args(p, nIter=1000, outDir="temporal_results")
    p.add_argument("--maskType", default="center", choices=mask_lib.MASK_TYPES)
    p.add_argument("--masks_per_subject", type=int, default=8)
    return p.parse_args(argv)


def pairwise_mse(inpaintings):
    """[K, H, W, C] in [-1, 1] -> MSE on the [0, 1] scale for every pair j < k, shape [K(K-1)/2]."""
    x = (np.asarray(inpaintings, np.float64) + 1) / 2
    j, k = np.triu_indices(len(x), 1)
    return np.mean((x[j] - x[k]) ** 2, axis=(1, 2, 3))


def run_experiment(args, gan=None, z_init=None, search=None):
    """Returns the summary dict. z_init(images, masks, maps) -> z, if given, replaces the
    random start (the learned initialiser uses it); gan and a LatentSearch of --batch_size
    may be passed in to reuse them."""
    from blend import poisson_blend
    from inpaint import composite, load_model, psnr, write_summary_arrays

    gan = gan or load_model(args.checkpoint_dir, args.output_size)
    z_init = z_init or complete.make_z_init(args, gan)
    size = gan.config.output_size
    per_subject = args.masks_per_subject
    if per_subject < 2 or args.batch_size % per_subject:
        raise UserError(f"--batch_size {args.batch_size} must be a multiple of --masks_per_subject "
                        f"{per_subject} (2 or more)")
    subjects_per_batch = args.batch_size // per_subject
    images, keypoint_maps, names = complete.prepare_test_data(args, size)
    rng = np.random.default_rng(args.seed)
    search = search or complete.make_search(gan, args)
    os.makedirs(args.outDir, exist_ok=True)
    consistency_before, consistency_after, psnr_before, psnr_after = [], [], [], []
    starts = range(0, len(images), subjects_per_batch)
    print(f"consistency: {len(images)} subjects x {per_subject} {args.maskType} masks, {args.nIter} steps")
    started = time.perf_counter()
    with tqdm(total=len(starts) * args.nIter, desc="z-search", unit="step", dynamic_ncols=True) as bar:
        for start in starts:
            subjects = np.arange(start, min(start + subjects_per_batch, len(images)))
            slots = np.repeat(subjects, per_subject)
            x, k = images[slots], keypoint_maps[slots]
            m = mask_lib.temporal_masks(args.maskType, size, len(slots), rng)
            z = None if z_init is None else z_init(x, m, k)
            generated, _ = complete.search_batch(search, x, k, m, args, z=z, bar=bar)
            before = composite(x, generated, m)
            after = poisson_blend(x, generated, m, solver=args.blend_solver)
            psnr_before.extend(psnr(before, x))
            psnr_after.extend(psnr(after, x))
            for i, subject in enumerate(subjects):
                own = slice(i * per_subject, (i + 1) * per_subject)
                consistency_before.append(pairwise_mse(before[own]))
                consistency_after.append(pairwise_mse(after[own]))
                frames = to_uint8(after[own])
                save_gif(os.path.join(args.outDir, f"subject_{subject}.gif"), frames)
                masked = to_uint8(x[own] * m[own][..., None])
                save_image(os.path.join(args.outDir, f"subject_{subject}.png"),
                           np.concatenate([np.concatenate(list(masked), axis=1),
                                           np.concatenate(list(frames), axis=1)], axis=0))
    summary = {
        "consistency_before_blending": write_summary_arrays(args.outDir, "consistency_before",
                                                            np.array(consistency_before)),
        "consistency_after_blending": write_summary_arrays(args.outDir, "consistency_after",
                                                           np.array(consistency_after)),
        "psnr_before_blending": write_summary_arrays(args.outDir, "psnr_before", psnr_before),
        "psnr_after_blending": write_summary_arrays(args.outDir, "psnr_after", psnr_after),
        "maskType": args.maskType, "masks_per_subject": per_subject, "subjects": len(images),
        "nIter": args.nIter, "conditional": gan.config.conditional, "images": names, "z_init": args.z_init,
        "seconds": time.perf_counter() - started,
        "note": "consistency: mean pairwise MSE on the [0, 1] scale over the pairs of one subject",
    }
    # Per-subject means: a subject's pairs, then the mean over subjects (count = subjects).
    save_json(os.path.join(args.outDir, "summary.json"), summary)
    print(f"consistency (pairwise MSE, [0, 1] scale): {summary['consistency_before_blending']['mean']:.5f} "
          f"before blending, {summary['consistency_after_blending']['mean']:.5f} after; PSNR "
          f"{summary['psnr_after_blending']['mean']:.2f} dB; written to {args.outDir}")
    return summary


def main(args):
    return run_experiment(args)


if __name__ == "__main__":
    run_cli(main, parse_args)
