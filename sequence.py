"""Inpaint face videos frame by frame so the fills do not flicker (beyond the paper's pseudo-sequences).

    python sequence.py --synthetic_video 8 --study            # every method on built-in clips (README table)
    python sequence.py --video face.mp4 --maskType moving                 # the shipped 64x64 real-face model
    python sequence.py --video frames/ --mask_video holes/ --temporal smooth

Frames come from --video (a video file imageio reads, or a folder of frames) or from
--synthetic_video N built-in clips with ground truth. Damage: --maskType of inpainting/masks.py on each
frame's face box, `moving` (a block crossing the face), or --mask_video (a mask per frame,
white = keep). In a video dlib finds the face of each frame (boxes averaged over 5 frames),
its keypoint map is drawn from the landmarks dlib finds outside the hole, the hidden ones
estimated from those and from nearby frames that saw them (--keypoints), and the filled face
is pasted back into the frame; a frame without a face is a counted skip, left as it came.

Each clip is searched frame after frame, with a temporal method: independent (a random z
per frame: the paper), warm (z_t starts from z_t-1, --nIter_next steps after the first
frame), smooth (warm, plus --temporal_weight * |z_t - z_t-1|^2 in the loss) or encoder (the
learned initialiser per frame, then --nIter_next steps). Writes to --outDir: clip{c}.mp4 and
clip{c}.gif (damaged | inpainted | truth face crops), strip{c}.png, per-frame PSNR
(psnr_before.npy, psnr_after.npy [clips, frames]), flicker per clip, summary.json, and for
--video also inpainted.mp4, inpainted.gif and side_by_side.mp4 at the video's size.
--study runs every method on the same synthetic clips and writes study.md / study.json.
Each searched frame is kept in --outDir/progress until the outputs are written, so a stopped
run goes on from the frame it was on when the same command is run again.
"""
import argparse
import os

from core.configs import (CONFIG_NAME, KEYPOINT_SOURCES, MASK_TYPES, SHIPPED_MODEL, TEMPORAL_METHODS, SearchConfig,
                          add_blend_flag, add_generator_flag, pick)
from utils import UserError, run_cli

SYNTHETIC_FRAMES = 32
MAX_SKIP_LINES = 10


def parse_args(argv=None):
    d = SearchConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--video", default=None, help="a face video (mp4, avi, mov, gif, ...) or a folder of frames")
    p.add_argument("--synthetic_video", type=int, default=0, metavar="N", help="inpaint N built-in synthetic clips")
    p.add_argument("--frames", type=int, default=None,
                   help=f"frames per synthetic clip (default {SYNTHETIC_FRAMES}); of --video, the first N "
                        "(default all)")
    p.add_argument("--clip_seed", type=int, default=1, help="seed of the synthetic clips (training faces use 0)")
    p.add_argument("--maskType", default="moving", choices=("moving",) + MASK_TYPES,
                   help="moving: a hole that travels over the face; or one fixed mask of inpainting/masks.py")
    p.add_argument("--mask_video", default=None,
                   help="holes of --video: a video or folder of masks at its size, white = keep, black = fill")
    p.add_argument("--predictor", default=None, help="landmark model for --video (default: installed)")
    p.add_argument("--keypoints", default="estimate", choices=KEYPOINT_SOURCES,
                   help="for --video, where each frame's keypoint map comes from: estimate (dlib's landmarks outside "
                        "the hole, the hidden ones estimated from them and from nearby frames that saw them), dlib "
                        "(dlib on the damaged frame as it is), clean (dlib on the frame before the damage, for "
                        "measuring)")
    p.add_argument("--checkpoint_dir", default=None,
                   help="the trained GAN; default for --video: the real-face model that ships in "
                        "models/celeba64/conditioned; for --synthetic_video: checkpoints if it holds a model, else "
                        "experiments.py's conditioned model in --results, trained first if it is missing")
    p.add_argument("--results", default="results", help="experiments.py's results folder")
    p.add_argument("--temporal", default="warm", choices=TEMPORAL_METHODS,
                   help="independent: every frame from a random start; warm: from the last frame's z; smooth: warm "
                        "plus a penalty on z's change; encoder: from the learned initialiser (docs/sequences.md)")
    p.add_argument("--temporal_weight", type=float, default=0.1, help="weight of |z_t - z_t-1|^2 (smooth)")
    p.add_argument("--nIter", type=int, default=None,
                   help=f"search steps on the first frame, on every frame for independent (default {d.nIter}, "
                        "the paper's; for experiments.py's model the steps it was evaluated with)")
    p.add_argument("--nIter_next", type=int, default=None,
                   help="steps per frame after a warm start (default nIter / 5)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam's learning rate on z")
    p.add_argument("--lam", type=float, default=d.lam, help="weight of the prior (GAN) loss")
    p.add_argument("--seed", type=int, default=d.seed, help="random starts")
    add_blend_flag(p)
    add_generator_flag(p)
    p.add_argument("--outDir", default="sequence_results", help="where the results are written")
    p.add_argument("--study", action="store_true",
                   help="run every method on the synthetic clips and write study.md / study.json (the encoder's "
                        "row needs a trained encoder; for experiments.py's model it is trained here)")
    return p.parse_args(argv)


def check_args(args):
    if bool(args.video) == bool(args.synthetic_video):
        raise UserError("give --video PATH (a video file or a folder of frames) or --synthetic_video N, one of them")
    if args.study and not args.synthetic_video:
        raise UserError("--study needs --synthetic_video N: its intervals are over clips with ground truth")
    if args.mask_video and not args.video:
        raise UserError("--mask_video is the damage of --video; synthetic clips take --maskType")
    if args.frames is not None and args.frames < 2:
        raise UserError(f"--frames {args.frames}: a clip needs 2 frames or more")


def find_model(args):
    """(checkpoint folder, first-frame search steps): --checkpoint_dir as given; else for a
    video the real-face model that ships (configs.SHIPPED_MODEL); for synthetic clips
    checkpoints/ if it holds a model, else experiments.py's conditioned model (trained now
    if missing, its encoder too for --study), searched with the steps experiments.py
    evaluated it with."""
    default_steps = args.nIter or SearchConfig().nIter
    if args.checkpoint_dir:
        return args.checkpoint_dir, default_steps
    if args.video:
        return SHIPPED_MODEL, default_steps
    if os.path.exists(os.path.join("checkpoints", CONFIG_NAME)):
        return "checkpoints", default_steps
    from paper import comparison
    print(f"no model in checkpoints/: using experiments.py's conditioned model in {args.results} "
          "(trained first if it is not there)")
    checkpoint_dir, settings = comparison.conditioned_model(args.results, encoder=args.study)
    return checkpoint_dir, args.nIter or settings.nIter


def main(args):
    import json

    from inpainting import clips
    from inpainting.encoder import ENCODER_CONFIG, ENCODER_DIR, make_z_init
    from inpainting.inpaint import LatentSearch, load_model
    from core.tfstart import tf

    check_args(args)
    if args.video:
        from inpainting import video
        # An unreadable video or mask video fails before the model loads.
        read = video.read_frames(args.video, args.frames)
        holes = video.read_mask_video(args.mask_video, read[0]) if args.mask_video else None
    checkpoint_dir, n_iter = find_model(args)
    n_iter_next = n_iter // 5 if args.nIter_next is None else args.nIter_next
    gan = load_model(checkpoint_dir, generator=args.generator)
    size = gan.config.output_size
    if args.video:
        face_clip, fps = find_faces(args, size, *read, holes=holes, checkpoint_dir=checkpoint_dir)
        frames, keypoint_maps, masks, truth = (face_clip.inputs, face_clip.keypoint_maps, face_clip.masks,
                                               face_clip.truths)
    else:
        length = args.frames or SYNTHETIC_FRAMES
        frames, keypoint_maps = clips.synthetic_clips(args.synthetic_video, length, size, args.clip_seed)
        masks, truth = clips.clip_masks(args.maskType, args.synthetic_video, length, size), None
    config = pick(SearchConfig, vars(args), batch_size=len(frames), nIter=n_iter)
    search = LatentSearch(gan, config)
    options = dict(n_iter_next=n_iter_next, temporal_weight=args.temporal_weight, blend_solver=args.blend_solver)
    os.makedirs(args.outDir, exist_ok=True)
    trained = os.path.isdir(os.path.join(checkpoint_dir, ENCODER_DIR))
    add_encoder = f"python train_encoder.py --checkpoint_dir {checkpoint_dir}"
    if args.study:
        if not trained:
            print(f"no encoder in {checkpoint_dir}: the study leaves out its row ({add_encoder} adds it)")
        return clips.study(search, frames, keypoint_maps, masks, args.outDir,
                           z_init=make_z_init("encoder", checkpoint_dir, gan) if trained else None, **options)
    if args.temporal == "encoder" and not trained:
        raise UserError(f"no trained encoder in {checkpoint_dir}: run `{add_encoder}` first, or use another "
                        "--temporal")
    z_init = make_z_init("encoder", checkpoint_dir, gan) if args.temporal == "encoder" else None
    progress = os.path.join(args.outDir, "progress")
    model = {"checkpoint": os.path.abspath(checkpoint_dir), "latest": tf.train.latest_checkpoint(checkpoint_dir),
             "generator": gan.generator_weights}
    if z_init is not None:  # frames searched from another encoder's guesses are not resumed
        encoder_dir = os.path.join(checkpoint_dir, ENCODER_DIR)
        with open(os.path.join(encoder_dir, ENCODER_CONFIG)) as f:
            model.update(encoder=tf.train.latest_checkpoint(encoder_dir), encoder_config=json.load(f))
    try:
        blended, scores = clips.score_clips(search, frames, keypoint_maps, masks, method=args.temporal, truth=truth,
                                            z_init=z_init, resume_dir=progress, resume_key=json.dumps(model),
                                            **options)
    except KeyboardInterrupt:
        raise UserError(f"interrupted: the frames searched so far are in {progress}; run the same command again "
                        "to go on from there") from None
    settings = {k: getattr(args, k) for k in ("video", "mask_video", "synthetic_video", "frames", "clip_seed",
                                              "maskType", "keypoints", "temporal", "temporal_weight", "lr", "lam",
                                              "seed")}
    settings.update(checkpoint_dir=checkpoint_dir, nIter=n_iter, nIter_next=n_iter_next)
    if args.video:
        settings.update(video_frames=len(face_clip.frames), frames_with_a_face=len(face_clip.used),
                        skipped={name: reason for name, reason in face_clip.skipped})
        write_video(args.outDir, face_clip, blended, fps)
    summary = clips.write_clips(args.outDir, frames if truth is None else truth, masks, blended, scores, settings)
    clips.remove_frame_log(progress)
    print(f"{args.temporal}: PSNR {summary['psnr_after']['mean']:.2f} dB after blending, flicker "
          f"{1e3 * summary['flicker_after']['mean']:.3f}e-3 ({1e3 * summary['flicker_before']['mean']:.3f}e-3 before "
          f"blending), {summary['seconds_per_frame']:.2f} s per frame; written to {args.outDir}")
    return summary


def find_faces(args, size, frames, names, fps, skipped, holes=None, checkpoint_dir=None):
    """The faces of --video's frames as (a video.FaceClip, frames per second), damaged by
    holes (--mask_video's masks) or else by --maskType, their maps from --keypoints (the
    estimate's shape model and mean face: beside checkpoint_dir, else the shipped ones); says
    which frames it skipped, and why."""
    from inpainting import clips, video
    from facedata.faces import FaceFinder
    from facedata.shape import load_face_prior
    finder = FaceFinder(args.predictor, size)
    if holes is not None:
        damage = {"frame_masks": holes}
    else:
        damage = {"crop_masks": clips.clip_masks(args.maskType, 1, len(frames), size)[0]}
    prior = load_face_prior(checkpoint_dir) if args.keypoints == "estimate" else None
    face_clip = video.face_clip(frames, names, finder, source=args.video, keypoints=args.keypoints, prior=prior,
                                **damage)
    face_clip.skipped = skipped + face_clip.skipped
    for name, reason in face_clip.skipped[:MAX_SKIP_LINES]:
        print(f"skipped {name} of {args.video}: {reason}")
    more = len(face_clip.skipped) - MAX_SKIP_LINES
    print(f"{len(face_clip.used)} frames with a face of {len(frames) + len(skipped)} read; {len(face_clip.skipped)} "
          f"skipped{f' ({more} more not listed)' if more > 0 else ''}")
    if len(face_clip.used) < 2:
        raise UserError(f"dlib finds a face in only {len(face_clip.used)} frame of {args.video}: a video needs 2 "
                        "or more (for one photo use complete.py --image)")
    return face_clip, fps


def write_video(out_dir, face_clip, blended, fps):
    """inpainted.mp4 / .gif (the frames, faces filled) and side_by_side.mp4 (damaged |
    inpainted | as read), at the video's size and frame rate."""
    import numpy as np
    from utils import save_gif, save_mp4
    filled = face_clip.filled(blended)
    save_mp4(os.path.join(out_dir, "inpainted.mp4"), filled, fps=fps)
    save_gif(os.path.join(out_dir, "inpainted.gif"), filled, seconds_per_frame=1 / fps)
    save_mp4(os.path.join(out_dir, "side_by_side.mp4"), np.concatenate([face_clip.damaged, filled, face_clip.frames],
                                                                       axis=2), fps=fps)


if __name__ == "__main__":
    run_cli(main, parse_args, searches=True)
