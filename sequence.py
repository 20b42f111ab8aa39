"""Inpaint face clips frame by frame so the fills do not flicker (beyond the paper's pseudo-sequences).

    python sequence.py --synthetic_video 4 --temporal warm --nIter 75 --nIter_next 15 \
        --checkpoint_dir results/runs/conditioned/seed0/checkpoints       # a model from experiments.py

Each clip is searched frame after frame (clips in parallel), with a temporal method:
independent (a random z per frame: the paper), warm (z_t starts from z_t-1, --nIter_next
steps after the first frame), smooth (warm, plus --temporal_weight * |z_t - z_t-1|^2 in the
loss) or encoder (the learned initialiser per frame, then --nIter_next steps). Masks:
--maskType of masks.py on every frame, or `moving`, a block crossing the face. Writes to
--outDir: clip{c}.mp4 and clip{c}.gif (damaged | inpainted | truth), strip{c}.png, per-frame
PSNR (psnr_before.npy, psnr_after.npy [clips, frames]), flicker per clip and summary.json.

In progress (issue 13): only the built-in synthetic clips (--synthetic_video N) so far;
video files, folders of frames, --mask_video, the dlib path and --study come next.
"""
import argparse

from configs import TEMPORAL_METHODS, SearchConfig, pick
from masks import MASK_TYPES
from utils import UserError, run_cli


def parse_args(argv=None):
    d = SearchConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint_dir", default="checkpoints")
    p.add_argument("--synthetic_video", type=int, default=0, metavar="N", help="inpaint N built-in synthetic clips")
    p.add_argument("--frames", type=int, default=32, help="frames per synthetic clip")
    p.add_argument("--clip_seed", type=int, default=1, help="seed of the synthetic clips (training faces use 0)")
    p.add_argument("--maskType", default="moving", choices=("moving",) + MASK_TYPES)
    p.add_argument("--temporal", default="warm", choices=TEMPORAL_METHODS)
    p.add_argument("--temporal_weight", type=float, default=0.1, help="weight of |z_t - z_t-1|^2 (smooth)")
    p.add_argument("--nIter", type=int, default=d.nIter,
                   help="search steps on the first frame (on every frame for independent)")
    p.add_argument("--nIter_next", type=int, default=150, help="steps per frame after a warm start")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lam", type=float, default=d.lam, help="weight of the prior (GAN) loss")
    p.add_argument("--seed", type=int, default=d.seed, help="random starts")
    p.add_argument("--blend_solver", default="banded", choices=["banded", "splu", "pyamg"])
    p.add_argument("--outDir", default="sequence_results")
    p.add_argument("--study", action="store_true",
                   help="run every method on the clips (encoder if one is trained) and write study.md / study.json")
    return p.parse_args(argv)


def main(args):
    import clips
    from inpaint import LatentSearch, load_model, make_z_init

    if not args.synthetic_video:
        raise UserError("give --synthetic_video N: reading videos and folders of frames is not built yet")
    if args.frames < 2:
        raise UserError(f"--frames {args.frames}: a clip needs 2 frames or more")
    gan = load_model(args.checkpoint_dir)
    size = gan.config.output_size
    frames, keypoint_maps = clips.synthetic_clips(args.synthetic_video, args.frames, size, args.clip_seed)
    masks = clips.clip_masks(args.maskType, args.synthetic_video, args.frames, size)
    search = LatentSearch(gan, pick(SearchConfig, vars(args), batch_size=args.synthetic_video))
    if args.study:
        import os
        from encoder import ENCODER_DIR
        os.makedirs(args.outDir, exist_ok=True)
        trained = os.path.isdir(os.path.join(args.checkpoint_dir, ENCODER_DIR))
        return clips.study(search, frames, keypoint_maps, masks, args.outDir, n_iter_next=args.nIter_next,
                           temporal_weight=args.temporal_weight, blend_solver=args.blend_solver,
                           z_init=make_z_init("encoder", args.checkpoint_dir, gan) if trained else None)
    z_init = make_z_init("encoder", args.checkpoint_dir, gan) if args.temporal == "encoder" else None
    blended, scores = clips.score_clips(search, frames, keypoint_maps, masks, method=args.temporal,
                                        n_iter_next=args.nIter_next, temporal_weight=args.temporal_weight,
                                        z_init=z_init, blend_solver=args.blend_solver)
    settings = {k: getattr(args, k) for k in ("checkpoint_dir", "synthetic_video", "frames", "clip_seed", "maskType",
                                              "temporal", "temporal_weight", "nIter", "nIter_next", "lr", "lam",
                                              "seed")}
    summary = clips.write_clips(args.outDir, frames, masks, blended, scores, settings)
    print(f"{args.temporal}: PSNR {summary['psnr_after']['mean']:.2f} dB after blending, flicker "
          f"{1e3 * summary['flicker_after']['mean']:.3f}e-3 ({1e3 * summary['flicker_before']['mean']:.3f}e-3 before "
          f"blending), {summary['seconds_per_frame']:.2f} s per frame; written to {args.outDir}")
    return summary


if __name__ == "__main__":
    run_cli(main, parse_args)
