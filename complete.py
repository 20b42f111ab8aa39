"""The correctness experiment: inpaint test faces by latent search, Poisson-blend, report PSNR.

    python complete.py --batch_size=64 --output_size=128 --maskType center      # the paper's
    python complete.py --synthetic 64 --maskType checkboard --nIter 200         # on synthetic faces
    python complete.py --image face.jpg --mask_file damage.png                  # a photo of your own

The model's architecture is read from --checkpoint_dir/config.json. Writes to --outDir:
before_{b}.png (masked inputs), mask_{b}.png, gt_{b}.png, completed/{b}_{iter}.png every
--outInterval steps, completed/{b}_blended.png, psnr_before.npy / psnr_after.npy (per image,
dB on the [0, 1] scale) and summary.json.
"""
import argparse
import os
import time

import numpy as np
from tqdm import tqdm

import masks as mask_lib
from utils import UserError, image_grid, run_cli, save_image, save_json, str2bool, to_uint8


def add_search_args(p, nIter=1500, outDir="completions_results"):
    """Flags of the latent search, shared with temporal.py."""
    p.add_argument("--approach", default="adam", choices=["adam", "hmc"])
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--hmcBeta", type=float, default=0.2)
    p.add_argument("--hmcEps", type=float, default=0.001)
    p.add_argument("--hmcL", type=int, default=100)
    p.add_argument("--hmcAnneal", type=float, default=1.0)
    p.add_argument("--nIter", type=int, default=nIter)
    p.add_argument("--outInterval", type=int, default=100)
    p.add_argument("--lam", type=float, default=0.1, help="weight of the prior (GAN) loss")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--output_size", type=int, default=None, help="checked against the trained model")
    p.add_argument("--checkpoint_dir", default="checkpoints")
    p.add_argument("--test_dir", default="data/test_images", help="pairs from preprocess_test_images.py")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="first write N synthetic test pairs (seed 1) to --test_dir")
    p.add_argument("--limit", type=int, default=0, help="use only the first N test faces (0: all)")
    p.add_argument("--outDir", default=outDir)
    p.add_argument("--blend_solver", default="banded", choices=["banded", "splu", "pyamg"])
    p.add_argument("--tiled_z_shortcut", type=str2bool, nargs="?", const=True, default=True,
                   help="compute G's first conv over the tiled z by border class (exact, faster)")
    p.add_argument("--z_init", default="random", choices=["random", "encoder"],
                   help="start z ~ U(-1, 1), or at the learned encoder's guess (train_encoder.py)")
    p.add_argument("--seed", type=int, default=0)
    return p


def make_z_init(args, gan):
    """None for a random start, else the encoder's z_init(images, masks, maps)."""
    if args.z_init != "encoder":
        return None
    from encoder import encoder_z_init, load_encoder
    return encoder_z_init(load_encoder(args.checkpoint_dir, gan.config))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_search_args(p)
    p.add_argument("--maskType", default="center", choices=mask_lib.MASK_TYPES)
    p.add_argument("--centerScale", type=float, default=0.25)
    p.add_argument("--fraction_masked", type=float, default=0.75, help="for --maskType random")
    p.add_argument("--mask_file", default=None, help="your own mask: white = keep, black = fill")
    p.add_argument("--image", default=None, help="inpaint a photo of your own (needs dlib)")
    p.add_argument("--predictor", default=None, help="landmark model for --image (default: installed)")
    return p.parse_args(argv)


def make_search(gan, args):
    from inpaint import LatentSearch
    return LatentSearch(gan, args.batch_size, lam=args.lam, approach=args.approach, lr=args.lr,
                        beta1=args.beta1, beta2=args.beta2, eps=args.eps, hmc_beta=args.hmcBeta,
                        hmc_eps=args.hmcEps, hmc_L=args.hmcL, hmc_anneal=args.hmcAnneal, seed=args.seed,
                        tiled_z_shortcut=args.tiled_z_shortcut)


def prepare_test_data(args, size):
    import dataset
    if args.synthetic:
        import preprocess
        import preprocess_test_images
        pre = preprocess_test_images.parse_args(["--synthetic", str(args.synthetic), "--size", str(max(size, 64)),
                                                 "--output_dir", args.test_dir])
        preprocess.run(pre, preprocess.write_test_pairs)
    return dataset.load_test_pairs(args.test_dir, size, args.limit or None)


def search_batch(search, images, keypoint_maps, masks, args, on_interval=None, z=None, bar=None):
    """Run the latent search on one batch (padded to batch_size); returns G(z) of the real
    images. on_interval(iteration, generated) is called every outInterval steps."""
    from inpaint import pad_batch
    images_p, n = pad_batch(images, args.batch_size)
    maps_p, _ = pad_batch(keypoint_maps, args.batch_size)
    masks_p, _ = pad_batch(masks[..., None].astype(np.float32), args.batch_size)
    search.start(None if z is None else pad_batch(z, args.batch_size)[0])
    done, generated = 0, None
    while True:
        steps = min(args.outInterval, args.nIter - done) if args.outInterval > 0 else args.nIter - done
        total, context, prior, generated = search.run(images_p, maps_p, masks_p, steps)
        done += steps
        if bar is not None:
            bar.set_postfix(loss=f"{total[:n].mean():.1f}", context=f"{context[:n].mean():.1f}", refresh=False)
            bar.update(steps)
        if on_interval is not None:
            on_interval(done, generated[:n])
        if done >= args.nIter:
            return generated[:n], {"loss": total[:n], "context": context[:n], "prior": prior[:n]}


def run_experiment(args, gan=None, search=None):
    """The paper's correctness experiment over the test pairs. Returns the summary dict.
    A loaded gan and a LatentSearch of --batch_size for it may be passed in to reuse them
    (and their compiled loop) across experiments."""
    from blend import poisson_blend
    from inpaint import composite, load_model, psnr, write_summary_arrays

    gan = gan or load_model(args.checkpoint_dir, args.output_size)
    size = gan.config.output_size
    images, keypoint_maps, names = prepare_test_data(args, size)
    rng = np.random.default_rng(args.seed)
    if args.mask_file:
        all_masks = np.repeat(mask_lib.load_mask(args.mask_file, size)[None], len(images), axis=0)
    elif args.maskType == "random":
        all_masks = np.stack([mask_lib.make_mask("random", size, fraction_masked=args.fraction_masked, rng=rng)
                              for _ in images])
    else:
        all_masks = np.repeat(mask_lib.make_mask(args.maskType, size, args.centerScale)[None], len(images), axis=0)

    search = search or make_search(gan, args)
    z_init = make_z_init(args, gan)
    out, completed = args.outDir, os.path.join(args.outDir, "completed")
    os.makedirs(completed, exist_ok=True)
    before_db, after_db = [], []
    batches = range(0, len(images), args.batch_size)
    print(f"inpainting {len(images)} faces ({args.maskType if not args.mask_file else args.mask_file} mask) "
          f"with a {size}x{size} {'conditioned' if gan.config.conditional else 'unconditioned'} model, "
          f"{args.nIter} {args.approach} steps, batch {args.batch_size}")
    started = time.perf_counter()
    with tqdm(total=len(batches) * args.nIter, desc="z-search", unit="step", dynamic_ncols=True) as bar:
        for b, start in enumerate(batches):
            x = images[start:start + args.batch_size]
            k = keypoint_maps[start:start + args.batch_size]
            m = all_masks[start:start + args.batch_size]
            save_image(os.path.join(out, f"before_{b}.png"), image_grid(to_uint8(x * m[..., None])))
            save_image(os.path.join(out, f"mask_{b}.png"), image_grid(to_uint8(m[..., None].repeat(3, -1) * 2 - 1)))
            save_image(os.path.join(out, f"gt_{b}.png"), image_grid(to_uint8(x)))

            def write_interval(iteration, generated):
                save_image(os.path.join(completed, f"{b}_{iteration}.png"),
                           image_grid(to_uint8(composite(x, generated, m))))

            z = None if z_init is None else z_init(x, m, k)
            generated, _ = search_batch(search, x, k, m, args, write_interval, z=z, bar=bar)
            before = composite(x, generated, m)
            blended = poisson_blend(x, generated, m, solver=args.blend_solver)
            save_image(os.path.join(completed, f"{b}_blended.png"), image_grid(to_uint8(blended)))
            before_db.extend(psnr(before, x))
            after_db.extend(psnr(blended, x))
    summary = {
        "psnr_before_blending": write_summary_arrays(out, "psnr_before", before_db),
        "psnr_after_blending": write_summary_arrays(out, "psnr_after", after_db),
        "maskType": args.maskType if not args.mask_file else f"file:{args.mask_file}",
        "nIter": args.nIter, "approach": args.approach, "lam": args.lam, "z_init": args.z_init,
        "conditional": gan.config.conditional, "output_size": size, "images": names,
        "seconds": time.perf_counter() - started, "psnr_note": "dB on the [0, 1] scale, capped at 100",
    }
    save_json(os.path.join(out, "summary.json"), summary)
    print(f"PSNR over {len(before_db)} faces: {summary['psnr_before_blending']['mean']:.2f} dB before "
          f"blending, {summary['psnr_after_blending']['mean']:.2f} dB after; written to {out}")
    return summary


def complete_photo(args):
    """Inpaint a user's photo: find the face, damage it with the mask, take the landmarks of
    the damaged face (an honest input: the clean photo is unknown in practice), inpaint the
    crop, blend, and paste the filled pixels back into the full photo."""
    from PIL import Image

    from blend import poisson_blend
    from faces import FaceFinder, Skip, clamp_box, crop_face, load_rgb
    from inpaint import load_model

    gan = load_model(args.checkpoint_dir, args.output_size)
    size = gan.config.output_size
    try:
        photo = load_rgb(args.image)
    except Skip as skip:
        raise UserError(f"cannot use {args.image}: {skip}")
    height, width = photo.shape[:2]
    finder = FaceFinder(args.predictor, size)
    if args.mask_file:
        photo_mask = mask_lib.load_mask(args.mask_file)
        if photo_mask.shape != (height, width):
            raise UserError(f"mask file {args.mask_file} is {photo_mask.shape[1]}x{photo_mask.shape[0]} but "
                            f"{args.image} is {width}x{height}: draw the mask over the photo at its size")
        damaged = (photo * photo_mask[..., None]).astype(np.uint8)
        found = finder.boxes(damaged)
        if not found:
            raise UserError(f"dlib finds no face in {args.image} once masked: use a smaller mask or "
                            "--maskType on the face box")
        box = clamp_box(found[0], width, height)
    else:
        found = finder.boxes(photo)
        if not found:
            raise UserError(f"dlib finds no face in {args.image}: use a photo with a frontal face")
        box = clamp_box(found[0], width, height)
        crop_mask = mask_lib.make_mask(args.maskType, size, args.centerScale, args.fraction_masked)
        box_mask = np.asarray(Image.fromarray((crop_mask * 255).astype(np.uint8)).resize(
            (box[2] - box[0], box[3] - box[1]), Image.Resampling.NEAREST)) > 127
        photo_mask = np.ones((height, width), np.float32)
        photo_mask[box[1]:box[3], box[0]:box[2]] = box_mask
        damaged = (photo * photo_mask[..., None]).astype(np.uint8)
    face = crop_face(damaged, box, finder.landmarks_in_box(damaged, box), size, args.image)
    crop_mask = np.asarray(Image.fromarray((photo_mask[box[1]:box[3], box[0]:box[2]] * 255).astype(np.uint8))
                           .resize((size, size), Image.Resampling.NEAREST)) > 127
    crop_mask = crop_mask.astype(np.float32)[None]
    x = face.image[None].astype(np.float32) / 127.5 - 1
    k = face.keypoint_map[None].astype(np.float32) / 127.5 - 1

    args.batch_size = 1
    search = make_search(gan, args)
    z_init = make_z_init(args, gan)
    z = None if z_init is None else z_init(x, crop_mask, k)
    with tqdm(total=args.nIter, desc="z-search", unit="step") as bar:
        generated, _ = search_batch(search, x, k, crop_mask, args, z=z, bar=bar)
    blended = poisson_blend(x, generated, crop_mask, solver=args.blend_solver)[0]
    filled = np.asarray(Image.fromarray(to_uint8(blended)).resize((box[2] - box[0], box[3] - box[1]),
                                                                  Image.Resampling.BICUBIC))
    result = damaged.copy()
    region = result[box[1]:box[3], box[0]:box[2]]
    hole = photo_mask[box[1]:box[3], box[0]:box[2]] < 0.5
    region[hole] = filled[hole]
    stem = os.path.splitext(os.path.basename(args.image))[0]
    os.makedirs(args.outDir, exist_ok=True)
    out_path = os.path.join(args.outDir, f"{stem}_inpainted.png")
    save_image(out_path, result)
    save_image(os.path.join(args.outDir, f"{stem}_side_by_side.png"), np.concatenate([damaged, result], axis=1))
    save_image(os.path.join(args.outDir, f"{stem}_keypoint_map.png"), face.keypoint_map)
    print(f"wrote {out_path} and {stem}_side_by_side.png; the keypoint map was computed from the damaged "
          "photo (the clean face is unknown), not from a clean-image oracle")
    return result


def main(args):
    if args.image:
        return complete_photo(args)
    return run_experiment(args)


if __name__ == "__main__":
    run_cli(main, parse_args)
