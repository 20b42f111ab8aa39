"""The correctness experiment: inpaint test faces by latent search, Poisson-blend, report PSNR.

    python complete.py --batch_size=64 --output_size=128 --maskType center      # the paper's
    python complete.py --synthetic 64 --maskType checkboard --nIter 200         # on synthetic faces
    python complete.py --image face.jpg --mask_file damage.png                  # a photo (shipped 64x64 model)
    python complete.py --image face.jpg --maskType center --keypoints clean     # its map from the undamaged photo
    python complete.py --num_shards 4 --shard 0 ...   # one part per machine; then the same with --merge

The model's architecture is read from --checkpoint_dir/config.json. Writes to --outDir:
before_{b}.png (masked inputs), mask_{b}.png, gt_{b}.png, completed/{b}_{iter}.png every
--outInterval steps, completed/{b}_blended.png, psnr_before.npy / psnr_after.npy (per image,
dB on the [0, 1] scale) and summary.json. The work is done by evaluation.correctness and,
for --image, photo.complete_photo.
"""
import argparse

from core.configs import KEYPOINT_SOURCES, MASK_TYPES, SHIPPED_MODEL, SearchConfig, add_search_flags, pick
from utils import run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_search_flags(p, nIter=1500, outDir="completions_results")
    p.add_argument("--maskType", default="center", choices=MASK_TYPES, help="the damage (inpainting/masks.py)")
    p.add_argument("--centerScale", type=float, default=0.25, help="center mask: side of the hole / image side")
    p.add_argument("--fraction_masked", type=float, default=0.75, help="for --maskType random")
    p.add_argument("--mask_file", default=None, help="your own mask: white = keep, black = fill")
    p.add_argument("--image", default=None, help="inpaint a photo of your own (needs dlib)")
    p.add_argument("--predictor", default=None, help="landmark model for --image (default: installed)")
    p.add_argument("--keypoints", default="estimate", choices=KEYPOINT_SOURCES,
                   help="for --image, where the keypoint map comes from: estimate (dlib's landmarks outside the hole, "
                        "the hidden ones estimated from them: what a user has), dlib (dlib on the damaged photo as "
                        "it is), clean (dlib on the photo before the hole was made: the paper's protocol, for "
                        "measuring)")
    return p.parse_args(argv)


def main(args):
    from facedata.dataset import load_test_masks
    from inpainting import masks
    from paper import evaluation
    from inpainting.encoder import make_z_init
    from inpainting.inpaint import LatentSearch, load_model

    if args.merge:
        return evaluation.merge_shards(args.outDir, args.num_shards)
    if args.checkpoint_dir is None:  # a photo: the real-face model that ships; test faces: main.py's default folder
        args.checkpoint_dir = SHIPPED_MODEL if args.image else "checkpoints"
    gan = load_model(args.checkpoint_dir, args.output_size, args.precision, args.generator)
    config = pick(SearchConfig, vars(args), batch_size=1 if args.image else args.batch_size)
    search = LatentSearch(gan, config)
    z_init = make_z_init(args.z_init, args.checkpoint_dir, gan)
    if args.image:
        from facedata.shape import load_face_prior
        from inpainting.photo import complete_photo
        prior = load_face_prior(args.checkpoint_dir) if args.keypoints == "estimate" else None
        return complete_photo(gan, search, args.image, args.outDir, predictor=args.predictor,
                              keypoints=args.keypoints, prior=prior, z_init=z_init,
                              blend_solver=args.blend_solver, mask_file=args.mask_file, mask_type=args.maskType,
                              center_scale=args.centerScale, fraction_masked=args.fraction_masked)
    images, keypoint_maps, names = evaluation.test_faces(args.test_dir, gan.config.output_size, args.limit,
                                                         synthetic=args.synthetic)
    all_masks = load_test_masks(args.test_dir, gan.config.output_size, args.limit)
    damaged = all_masks is not None  # pairs of damaged photos: their own holes, and no truth to measure against
    if damaged:
        print(f"the pairs in {args.test_dir} come from damaged photos: each is filled under its own mask "
              "(--maskType and --mask_file are not used), with no truth to measure PSNR against")
    else:
        all_masks = masks.masks_for(len(images), gan.config.output_size, args.maskType, args.centerScale,
                                    args.fraction_masked, args.mask_file, args.seed)
    mask_name = "the pairs' own" if damaged else f"file:{args.mask_file}" if args.mask_file else args.maskType
    return evaluation.correctness(gan, search, images, keypoint_maps, all_masks, args.outDir, names=names,
                                  mask_name=mask_name, z_init=z_init, blend_solver=args.blend_solver,
                                  shard=evaluation.Shard(args.shard, args.num_shards), truth=not damaged)

if __name__ == "__main__":
    run_cli(main, parse_args, searches=True)
