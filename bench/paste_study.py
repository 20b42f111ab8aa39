"""How a photo's fill looks at the photo's own resolution: the former paste (the 64-px fill,
blended at 64 px, upscaled and copied into the hole) against the Poisson blend at full
resolution (photo.paste_face), and two ways of adding detail to it, on real photos whose
truth is known (each photo is damaged here, then inpainted as complete.py --image does).

    python bench/paste_study.py --photos data/celeba/val/images --count 16 --out results_paste

Measures, inside each photo's hole at full resolution, against the photo itself: PSNR; the
seam step (metrics.seam_step: the step across the hole's border) and the ring step
(metrics.ring_step: the colour step between the rings inside and outside the border), each
over the truth's own; the detail (metrics.laplacian_energy) over the truth's. Writes
study.json, a table, and zoomed figures of the first photos (truth, damaged, old, new).
The photos: skimage's astronaut, then --count photos of --photos whose face dlib finds at
least --min_face pixels wide (none of them used in training: pass validation people). Then
a 512x512 clip of the astronaut moving, through sequence.py --video's path: the seam of
each frame over the truth's.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

VARIANTS = ("copy (former)", "blend", "blend + sharpen", "blend + grain")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint_dir", default=None, help="the model (default: the shipped one)")
    p.add_argument("--photos", default=None, help="folder of photos with known truth (validation people)")
    p.add_argument("--count", type=int, default=16, help="photos of --photos to use")
    p.add_argument("--min_face", type=int, default=150, help="smallest face box (px) a photo must have")
    p.add_argument("--masks", default="center,left", help="comma list of mask types drawn on the face box")
    p.add_argument("--nIter", type=int, default=300, help="search steps per photo")
    p.add_argument("--sharpen", type=float, default=1.0, help="unsharp-mask amount of the 'blend + sharpen' variant")
    p.add_argument("--video_frames", type=int, default=8,
                   help="frames of a 512x512 clip of the astronaut moving, inpainted as sequence.py --video does "
                        "(0: no video)")
    p.add_argument("--out", default="results_paste", help="where study.json and the figures go")
    return p.parse_args(argv)


def with_grain(result, photo_mask, box, seed=0):
    """Noise in the hole, just enough that its fine detail (Laplacian energy, per channel)
    matches the photo's own in the known ring around the hole: white noise of spread s adds
    20 s^2 to the 4-neighbour Laplacian's mean square."""
    from scipy import ndimage
    hole = photo_mask < 0.5
    ring = ~hole & ndimage.binary_dilation(hole, iterations=max(4, (box[2] - box[0]) // 16))
    x = result.astype(np.float64)
    laplacian = np.stack([ndimage.laplace(x[..., c]) for c in range(3)], axis=-1)
    missing = np.maximum((laplacian[ring] ** 2).mean(0) - (laplacian[hole] ** 2).mean(0), 0)
    noise = np.random.default_rng(seed).normal(0, 1, x.shape) * np.sqrt(missing / 20)
    out = x.copy()
    out[hole] += noise[hole]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def measures(out, truth, photo_mask):
    from inpainting import metrics
    from utils import from_uint8
    hole = photo_mask < 0.5
    a, t, m = from_uint8(out[None]), from_uint8(truth[None]), photo_mask[None]
    return {"psnr": float(metrics.psnr(a[:, hole], t[:, hole])[0]),
            "seam": float(metrics.seam_step(a, m)[0] / metrics.seam_step(t, m)[0]),
            "ring": float(metrics.ring_step(a, m)[0] / metrics.ring_step(t, m)[0]),
            "detail": float(metrics.laplacian_energy(a, m)[0] / metrics.laplacian_energy(t, m)[0])}


def zoomed(images, box, side=480):
    """The face box (a margin around it) of each image, side x side, side by side."""
    left, top, right, bottom = box
    pad = (right - left) // 6
    region = (max(left - pad, 0), max(top - pad, 0), right + pad, bottom + pad)
    return np.concatenate([np.asarray(Image.fromarray(i).crop(region).resize((side, side), Image.Resampling.NEAREST))
                           for i in images], axis=1)


def photos(args):
    """[(name, uint8 photo)]: the astronaut, then --count photos of --photos with a face of
    at least --min_face px."""
    import skimage.data
    from facedata.faces import FaceFinder, Skip, list_images, load_rgb
    found = [("astronaut", skimage.data.astronaut())]
    if args.photos:
        finder = FaceFinder()
        for path in list_images(args.photos):
            if len(found) > args.count:
                break
            try:
                photo = load_rgb(path)
            except Skip:
                continue
            boxes = finder.boxes(photo)
            if boxes and max(b[2] - b[0] for b in boxes) >= args.min_face:
                found.append((os.path.basename(path), photo))
    return found


def video_study(gan, args):
    """sequence.py --video's path on a 512x512 clip of the astronaut moving (its face ~300 px
    wide), center holes on each frame's face box: the seam over the truth's, per frame, for
    the former paste and the blend. Returns (copy ratios, blend ratios)."""
    from inpainting import clips, metrics, video
    from bench.bench_sequence import video_of
    from core.configs import SearchConfig
    from facedata.faces import FaceFinder
    from inpainting.inpaint import LatentSearch
    from inpainting.photo import paste_face
    from utils import from_uint8
    frames = video_of(512, 512, args.video_frames)
    size = gan.config.output_size
    clip = video.face_clip(frames, [f"frame {t}" for t in range(len(frames))], FaceFinder(size=size),
                           crop_masks=clips.clip_masks("center", 1, len(frames), size)[0])
    search = LatentSearch(gan, SearchConfig(batch_size=1, nIter=args.nIter))
    blended, _ = clips.score_clips(search, clip.inputs, clip.keypoint_maps, clip.masks, method="warm",
                                   truth=clip.truths, n_iter_next=args.nIter // 5)
    ratios = {}
    for blend in (False, True):
        filled = clip.damaged.copy()
        for i, (t, box) in enumerate(zip(clip.used, clip.boxes)):
            filled[t] = paste_face(clip.damaged[t], blended[0, i], box, clip.frame_masks[t], blend=blend)
        ratios[blend] = [float(metrics.seam_step(from_uint8(filled[t][None]), clip.frame_masks[t][None])[0]
                               / metrics.seam_step(from_uint8(frames[t][None]), clip.frame_masks[t][None])[0])
                         for t in clip.used]
    return ratios[False], ratios[True]


def main(args):
    from core.configs import SHIPPED_MODEL, SearchConfig
    from facedata.faces import FaceFinder
    from inpainting.inpaint import LatentSearch, load_model
    from inpainting.photo import inpaint_photo, paste_face
    from paper.report import machine
    from utils import save_image, save_json
    checkpoint = args.checkpoint_dir or SHIPPED_MODEL
    gan = load_model(checkpoint)
    search = LatentSearch(gan, SearchConfig(batch_size=1, nIter=args.nIter, outInterval=0))
    finder = FaceFinder(size=gan.config.output_size)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for number, (name, photo) in enumerate(photos(args)):
        for kind in args.masks.split(","):
            fill = inpaint_photo(gan, search, photo, finder, name=name, mask_type=kind)
            outputs = {"copy (former)": fill.pasted(blend=False), "blend": fill.pasted()}
            outputs["blend + sharpen"] = paste_face(fill.damaged, fill.blended, fill.box, fill.photo_mask,
                                                    sharpen=args.sharpen)
            outputs["blend + grain"] = with_grain(outputs["blend"], fill.photo_mask, fill.box)
            row = {"photo": name, "mask": kind, "box": [int(v) for v in fill.box],
                   "hole_pixels": int((fill.photo_mask < 0.5).sum())}
            row.update({v: measures(outputs[v], photo, fill.photo_mask) for v in VARIANTS})
            rows.append(row)
            if number < 4:
                save_image(os.path.join(args.out, f"zoom_{number}_{kind}.png"),
                           zoomed([photo, fill.damaged, outputs["copy (former)"], outputs["blend"]], fill.box))
            print(f"{name} {kind}: " + ", ".join(f"{v} PSNR {row[v]['psnr']:.2f} seam {row[v]['seam']:.2f}"
                                                 for v in VARIANTS[:2]), flush=True)
    summary = {v: {k: float(np.mean([r[v][k] for r in rows])) for k in ("psnr", "seam", "ring", "detail")}
               for v in VARIANTS}
    save_json(os.path.join(args.out, "study.json"), {"checkpoint": checkpoint, "nIter": args.nIter,
                                                     "machine": machine(), "rows": rows, "summary": summary})
    print(f"\n{len(rows)} inpaintings ({len(rows) // len(args.masks.split(','))} photos); mean over them, each "
          "measure but PSNR over the truth's own:")
    print(f"{'':>16} {'PSNR dB':>8} {'seam':>6} {'ring':>6} {'detail':>7}")
    for v in VARIANTS:
        s = summary[v]
        print(f"{v:>16} {s['psnr']:>8.2f} {s['seam']:>6.2f} {s['ring']:>6.2f} {s['detail']:>7.2f}")
    print(json.dumps({"worst seam (blend)": max(r["blend"]["seam"] for r in rows)}))
    if args.video_frames:
        copied, blended = video_study(gan, args)
        summary["video"] = {"frames": len(blended), "seam_copy": copied, "seam_blend": blended}
        save_json(os.path.join(args.out, "study.json"), {"checkpoint": checkpoint, "nIter": args.nIter,
                                                         "machine": machine(), "rows": rows, "summary": summary})
        print(f"video, {len(blended)} frames of 512x512, center hole: seam over the truth's, former paste "
              f"{np.mean(copied):.2f} (worst {max(copied):.2f}), blend {np.mean(blended):.2f} (worst {max(blended):.2f})")
    return summary


if __name__ == "__main__":
    main(parse_args())
