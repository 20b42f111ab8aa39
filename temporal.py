"""The consistency experiment: each face inpainted under 8 different masks of one type.

    python temporal.py --batch_size=64 --output_size=128 --maskType center
    python temporal.py --synthetic 64 --maskType checkboard --nIter 200
    python temporal.py --num_shards 4 --shard 0 ...   # one part per machine, then --merge

A batch of 64 holds 8 subjects x 8 masks (batch_size / masks_per_subject subjects); each
slot's mask is randomised as in the original (center scale ~ U(0.20, 0.30), checkboard tile
from {8, 16, 32}, one of four freehand polygons), drawn from --seed. Consistency is the mean
pairwise MSE between the inpaintings of one subject (all pairs j < k), before and after
blending, on the [0, 1] scale; each inpainting's PSNR against the truth is reported beside
it. Writes to --outDir: subject_{i}.gif (the 8 inpaintings, as in the original README),
subject_{i}.png (masked inputs above inpaintings), consistency_before.npy /
consistency_after.npy ([subjects, pairs]), psnr_before.npy / psnr_after.npy and summary.json.
The work is done by evaluation.consistency.
"""
import argparse

from core.configs import MASK_TYPES, SearchConfig, add_search_flags, pick
from utils import run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_search_flags(p, nIter=1000, outDir="temporal_results")
    p.add_argument("--maskType", default="center", choices=MASK_TYPES, help="the damage (inpainting/masks.py)")
    p.add_argument("--masks_per_subject", type=int, default=8, help="inpaintings of each face, each its own mask")
    return p.parse_args(argv)


def main(args):
    from paper import evaluation
    from inpainting.encoder import make_z_init
    from inpainting.inpaint import LatentSearch, load_model

    if args.merge:
        return evaluation.merge_shards(args.outDir, args.num_shards)
    args.checkpoint_dir = args.checkpoint_dir or "checkpoints"
    gan = load_model(args.checkpoint_dir, args.output_size, args.precision, args.generator)
    evaluation.check_consistency_batch(args.batch_size, args.masks_per_subject)
    search = LatentSearch(gan, pick(SearchConfig, vars(args)))
    images, keypoint_maps, names = evaluation.test_faces(args.test_dir, gan.config.output_size, args.limit,
                                                         synthetic=args.synthetic)
    return evaluation.consistency(gan, search, images, keypoint_maps, args.outDir, mask_type=args.maskType,
                                  masks_per_subject=args.masks_per_subject, seed=args.seed, names=names,
                                  z_init=make_z_init(args.z_init, args.checkpoint_dir, gan),
                                  blend_solver=args.blend_solver,
                                  shard=evaluation.Shard(args.shard, args.num_shards))


if __name__ == "__main__":
    run_cli(main, parse_args, searches=True)
