"""The paper's two experiments over test faces, as library functions with keyword arguments:
correctness (inpaint, blend, PSNR) and consistency (one face under several masks, pairwise
MSE), plus the mean-face floor and a PSNR-versus-steps curve. complete.py, temporal.py and
experiments.py turn flags into these calls.

Images and maps are [N, S, S, 3] in [-1, 1]; masks [N, S, S], 1 = known; PSNR in dB and
MSE on the [0, 1] scale.
"""
import dataclasses
import json
import os
import time

import numpy as np

from inpainting import masks as mask_lib
from inpainting.blend import poisson_blend
from inpainting.inpaint import composite, search_all, write_summary_arrays
from inpainting.metrics import laplacian_energy, pairwise_mse, psnr, ssim
from utils import UserError, image_grid, save_gif, save_image, save_json, save_npz, to_uint8

PSNR_NOTE = "dB on the [0, 1] scale, capped at 100"
MEASURES = ("psnr_before", "psnr_after", "ssim_before", "ssim_after", "laplacian_before", "laplacian_after",
            "laplacian_truth")
EXAMPLES = 8


def measure(images, masks, before, after):
    """The per-image measures of MEASURES of fills before and after blending."""
    return {"psnr_before": psnr(before, images), "psnr_after": psnr(after, images),
            "ssim_before": ssim(before, images), "ssim_after": ssim(after, images),
            "laplacian_before": laplacian_energy(before, masks), "laplacian_after": laplacian_energy(after, masks),
            "laplacian_truth": laplacian_energy(images, masks)}


@dataclasses.dataclass
class Shard:
    """Part `index` of `count` of an evaluation, for running it on several machines: a
    contiguous block of whole search batches. Its .npy files and summary carry the suffix
    .shard{index}of{count}; merge_shards joins them into what one unsharded run writes."""
    index: int = 0
    count: int = 1

    def __post_init__(self):
        if self.count < 1 or not 0 <= self.index < self.count:
            raise UserError(f"--shard {self.index} --num_shards {self.count}: use 0 <= shard < num_shards")

    def batches(self, total):
        """[first, last) of `total` batches; one clear line if this shard would have none."""
        first, last = total * self.index // self.count, total * (self.index + 1) // self.count
        if first == last:
            raise UserError(f"--shard {self.index} of --num_shards {self.count} gets no batch (there are {total}): "
                            "use fewer shards or a smaller --batch_size")
        return first, last

    def take(self, count, per_batch):
        """The slice of `count` units (faces, or subjects of per_batch to a search batch)
        this shard runs. Its images keep their numbers in the unsharded run, so they start
        from the z that run gives them (inpaint.random_starts)."""
        first, last = self.batches(-(-count // per_batch))
        return slice(first * per_batch, min(last * per_batch, count))

    @property
    def suffix(self):
        return "" if self.count == 1 else f".shard{self.index}of{self.count}"


def merge_shards(out_dir, count):
    """Join the files of shards 0..count-1 in out_dir into the unsharded .npy files and
    summary.json (statistics recomputed, image names joined, seconds summed). Exact: each
    shard starts its images at the random z, and its HMC noise at the seed, an unsharded run
    gives them."""
    parts = [os.path.join(out_dir, f"summary{Shard(i, count).suffix}.json") for i in range(count)]
    missing = [i for i, path in enumerate(parts) if not os.path.exists(path)]
    if missing:
        raise UserError(f"shard {missing[0]} of {count} is missing in {out_dir}: run it with --shard {missing[0]} "
                        f"--num_shards {count} --outDir {out_dir}, then merge")
    summaries = []
    for path in parts:
        with open(path) as f:
            summaries.append(json.load(f))
    merged = dict(summaries[0], images=[n for s in summaries for n in s["images"]],
                  seconds=sum(s["seconds"] for s in summaries))
    if "subjects" in merged:
        merged["subjects"] = sum(s["subjects"] for s in summaries)
    for key, value in summaries[0].items():
        if isinstance(value, dict) and "count" in value:  # a per-unit array: psnr_before_blending -> psnr_before
            name = key.replace("_blending", "")
            arrays = [np.load(os.path.join(out_dir, f"{name}{Shard(i, count).suffix}.npy")) for i in range(count)]
            merged[key] = write_summary_arrays(out_dir, name, np.concatenate(arrays))
    save_json(os.path.join(out_dir, "summary.json"), merged)
    print(f"merged {count} shards into {out_dir}/summary.json")
    return merged


def test_faces(test_dir, size, limit=0, synthetic=0):
    """(images, keypoint_maps, names) of the test pairs in test_dir at size x size; with
    synthetic N, first writes N synthetic test pairs (seed 1) there (resumable)."""
    from facedata import dataset
    if synthetic:
        from facedata import preprocess
        preprocess.run(preprocess.write_test_pairs, output_dir=test_dir, synthetic=synthetic, seed=1,
                       size=max(size, 64))
    return dataset.load_test_pairs(test_dir, size, limit or None)


def check_consistency_batch(batch_size, masks_per_subject):
    if masks_per_subject < 2 or batch_size % masks_per_subject:
        raise UserError(f"--batch_size {batch_size} must be a multiple of --masks_per_subject "
                        f"{masks_per_subject} (2 or more)")


def _search_settings(search, gan):
    c = search.config
    return {"nIter": c.nIter, "approach": c.approach, "lam": c.lam, "z_init": c.z_init,
            "conditional": gan.config.conditional, "output_size": gan.config.output_size}


def correctness(gan, search, images, keypoint_maps, masks, out_dir, *, mask_name, names=(), z_init=None,
                blend_solver="banded", shard=Shard(), truth=True):
    """Inpaint every image, Poisson-blend, and write to out_dir the original's files:
    before_{b}.png, mask_{b}.png, gt_{b}.png per batch b, completed/{b}_{steps}.png at each
    milestone, completed/{b}_blended.png; psnr_before.npy / psnr_after.npy per image and
    summary.json; and beside them ssim_{phase}.npy, laplacian_{phase}.npy and
    laplacian_truth.npy (inpainting/metrics.py) and examples.npz (the first EXAMPLES faces, uint8:
    before and after blending). Returns the summary. With a shard, only its batches (see
    Shard). truth False: the images are damaged photos' faces, with nothing in their holes to
    measure against: the fills are written, no measures."""
    completed = os.path.join(out_dir, "completed")
    os.makedirs(completed, exist_ok=True)
    size = search.config.batch_size
    own = shard.take(len(images), size)
    first = own.start // size  # batch numbers in file names are those of the unsharded run
    images, keypoint_maps, masks, names = images[own], keypoint_maps[own], masks[own], list(names)[own]
    measures = {name: [] for name in MEASURES}
    print(f"inpainting {len(images)} faces ({mask_name} mask) with a {gan.config.output_size}x"
          f"{gan.config.output_size} {'conditioned' if gan.config.conditional else 'unconditioned'} model, "
          f"{search.config.nIter} {search.config.approach} steps, batch {size}")
    started = time.perf_counter()

    def batch_of(b):
        return slice(b * size, (b + 1) * size)

    def write_milestone(b, steps, generated):
        x, m = images[batch_of(b)], masks[batch_of(b)]
        if steps == search.config.milestones()[0]:
            save_image(os.path.join(out_dir, f"before_{first + b}.png"), image_grid(to_uint8(x * m[..., None])))
            save_image(os.path.join(out_dir, f"mask_{first + b}.png"),
                       image_grid(to_uint8(m[..., None].repeat(3, -1) * 2 - 1)))
            save_image(os.path.join(out_dir, f"gt_{first + b}.png"), image_grid(to_uint8(x)))
        save_image(os.path.join(completed, f"{first + b}_{steps}.png"),
                   image_grid(to_uint8(composite(x, generated, m))))

    def finish_batch(b, _, generated):
        x, m = images[batch_of(b)], masks[batch_of(b)]
        blended = poisson_blend(x, generated, m, solver=blend_solver)
        save_image(os.path.join(completed, f"{first + b}_blended.png"), image_grid(to_uint8(blended)))
        before = composite(x, generated, m)
        for name, values in (measure(x, m, before, blended) if truth else {}).items():
            measures[name].extend(values)
        if b == 0:
            save_npz(os.path.join(out_dir, "examples.npz"), before=to_uint8(before[:EXAMPLES]),
                     after=to_uint8(blended[:EXAMPLES]))

    search_all(search, images, keypoint_maps, masks, z_init=z_init, on_batch=finish_batch,
               on_milestone=write_milestone, first_number=own.start)
    summary = {f"{name}_blending" if name.endswith(("before", "after")) else name:
               write_summary_arrays(out_dir, name + shard.suffix, values) for name, values in measures.items()
               if truth}
    summary.update({"maskType": mask_name, **_search_settings(search, gan), "images": names,
                    "generator": getattr(gan, "generator_weights", "raw"),
                    "seconds": time.perf_counter() - started, "psnr_note": PSNR_NOTE})
    save_json(os.path.join(out_dir, f"summary{shard.suffix}.json"), summary)
    if not truth:
        print(f"{len(images)} faces inpainted (no truth to measure them against); written to {out_dir}")
        return summary
    print(f"PSNR over {len(measures['psnr_before'])} faces: {summary['psnr_before_blending']['mean']:.2f} dB before "
          f"blending, {summary['psnr_after_blending']['mean']:.2f} dB after; written to {out_dir}")
    return summary


def consistency(gan, search, images, keypoint_maps, out_dir, *, mask_type="center", masks_per_subject=8,
                seed=0, names=(), z_init=None, blend_solver="banded", shard=Shard()):
    """Each face (a subject) inpainted under masks_per_subject masks of one type, randomised
    as in the original's temporal.py and drawn from seed. Writes subject_{i}.gif and
    subject_{i}.png, consistency_before.npy / consistency_after.npy ([subjects, pairs]),
    psnr_before.npy / psnr_after.npy and summary.json. Returns the summary. With a shard,
    only the subjects of its batches (see Shard)."""
    k, size = masks_per_subject, search.config.batch_size
    check_consistency_batch(size, k)
    size_px = gan.config.output_size
    rng = np.random.default_rng(seed)
    masks = mask_lib.temporal_masks(mask_type, size_px, len(images) * k, rng)  # every subject's, as unsharded
    own = shard.take(len(images), size // k)
    subjects = np.arange(own.start, own.stop)
    images, keypoint_maps, names = images[own], keypoint_maps[own], list(names)[own]
    masks = masks[own.start * k:own.stop * k]
    slots = np.repeat(np.arange(len(images)), k)
    x, maps = images[slots], keypoint_maps[slots]
    os.makedirs(out_dir, exist_ok=True)
    print(f"consistency: {len(images)} subjects x {k} {mask_type} masks, {search.config.nIter} steps")
    started = time.perf_counter()
    generated = search_all(search, x, maps, masks, z_init=z_init, milestones=[search.config.nIter],
                           first_number=own.start * k)
    before = composite(x, generated, masks)
    after = np.concatenate([poisson_blend(x[i:i + size], generated[i:i + size], masks[i:i + size],
                                          solver=blend_solver) for i in range(0, len(x), size)])
    for subject, number in enumerate(subjects):
        own = slice(subject * k, (subject + 1) * k)
        frames = to_uint8(after[own])
        save_gif(os.path.join(out_dir, f"subject_{number}.gif"), frames)
        masked = to_uint8(x[own] * masks[own][..., None])
        save_image(os.path.join(out_dir, f"subject_{number}.png"),
                   np.concatenate([np.concatenate(list(masked), axis=1), np.concatenate(list(frames), axis=1)]))
    pairs = {phase: np.array([pairwise_mse(v[s * k:(s + 1) * k]) for s in range(len(images))])
             for phase, v in (("before", before), ("after", after))}
    summary = {f"consistency_{p}_blending": write_summary_arrays(out_dir, f"consistency_{p}{shard.suffix}",
                                                                 pairs[p].reshape(len(images), k * (k - 1) // 2))
               for p in ("before", "after")}
    summary.update({
        "psnr_before_blending": write_summary_arrays(out_dir, "psnr_before" + shard.suffix, psnr(before, x)),
        "psnr_after_blending": write_summary_arrays(out_dir, "psnr_after" + shard.suffix, psnr(after, x)),
        "maskType": mask_type, "masks_per_subject": k, "subjects": len(images), **_search_settings(search, gan),
        "images": names, "seconds": time.perf_counter() - started,
        "note": "consistency: mean pairwise MSE on the [0, 1] scale over the pairs of one subject"})
    save_json(os.path.join(out_dir, f"summary{shard.suffix}.json"), summary)
    print(f"consistency (pairwise MSE, [0, 1] scale): {summary['consistency_before_blending']['mean']:.5f} "
          f"before blending, {summary['consistency_after_blending']['mean']:.5f} after; PSNR "
          f"{summary['psnr_after_blending']['mean']:.2f} dB; written to {out_dir}")
    return summary


def mean_face_baseline(images, mean_face, mask_types):
    """The measures of filling each hole with the mean training face ([S, S, 3]; no GAN),
    the floor a GAN must beat: {mask: {measure: per-face array}} (MEASURES), and the first
    EXAMPLES fills after blending under "examples" (uint8)."""
    mean = np.repeat(mean_face[None], len(images), axis=0)
    out = {}
    for m in mask_types:
        masks = mask_lib.masks_for(len(images), images.shape[1], m)
        blended = poisson_blend(images, mean, masks)
        out[m] = dict(measure(images, masks, composite(images, mean, masks), blended),
                      examples=to_uint8(blended[:EXAMPLES]))
    return out


def psnr_curve(search, images, keypoint_maps, masks, milestones, z_init=None):
    """Mean PSNR after blending at each milestone of one search run: {steps: dB}."""
    size = search.config.batch_size
    values = {n: [] for n in milestones}

    def measure(b, steps, generated):
        x, m = images[b * size:(b + 1) * size], masks[b * size:(b + 1) * size]
        values[steps].extend(psnr(poisson_blend(x, generated, m), x))
    search_all(search, images, keypoint_maps, masks, z_init=z_init, milestones=milestones, on_milestone=measure)
    return {n: float(np.mean(v)) for n, v in values.items()}


def encoder_study(checkpoint_dir, images, keypoint_maps, out_dir, *, encoder_config, search_config, mask_types,
                  milestones, temporal_mask="center", temporal_subjects=32):
    """Random vs learned (encoder) start for the model in checkpoint_dir: trains the encoder
    (encoder_config, an EncoderTrainConfig), then per mask the PSNR curves of both starts at
    each milestone, the steps the encoder start needs to reach the random start's final PSNR,
    and the consistency of random and encoder starts (after search_config.nIter and after 0
    steps), written under out_dir/conditioned_{start}_{steps}. Returns the study as a dict."""
    from inpainting.encoder import encoder_z_init, train_encoder
    from inpainting.inpaint import LatentSearch, load_model
    started = time.perf_counter()
    encoder = train_encoder(encoder_config).encoder
    study = {"milestones": milestones, "encoder_training_seconds": time.perf_counter() - started, "masks": {}}
    gan = load_model(checkpoint_dir, generator=encoder_config.generator)
    starts = {"random": None, "encoder": encoder_z_init(encoder)}
    for m in mask_types:
        masks = mask_lib.masks_for(len(images), gan.config.output_size, m)
        curves = {name: psnr_curve(LatentSearch(gan, search_config), images, keypoint_maps, masks, milestones, z)
                  for name, z in starts.items()}
        target = curves["random"][milestones[-1]]
        reached = [n for n in milestones if curves["encoder"][n] >= target]
        caught_up = [n for n in milestones if curves["random"][n] >= curves["encoder"][milestones[0]]]
        study["masks"][m] = {"curves": curves, "random_final": target,
                             "random_steps_to_match_encoder_0": caught_up[0] if caught_up else None,
                             "encoder_steps_to_match": reached[0] if reached else None,
                             "speedup": (milestones[-1] / max(reached[0], 1)) if reached else None}
        print(f"{m}: random start {target:.2f} dB at {milestones[-1]} steps; encoder start "
              + ", ".join(f"{n}: {curves['encoder'][n]:.2f}" for n in milestones), flush=True)
    for name, steps in (("random", search_config.nIter), ("encoder", search_config.nIter), ("encoder", 0)):
        search = LatentSearch(gan, dataclasses.replace(search_config, nIter=steps, outInterval=0, z_init=name))
        summary = consistency(gan, search, images[:temporal_subjects], keypoint_maps[:temporal_subjects],
                              os.path.join(out_dir, f"conditioned_{name}_{steps}"), mask_type=temporal_mask,
                              seed=search_config.seed, z_init=starts[name])
        summary.pop("images", None)
        study[f"consistency_{name}_{steps}"] = summary
    return study
