"""What the keypoint map is worth on a user's own photos: complete.py --image's fill with the
map from the clean photo, from dlib on the damaged photo, and from the estimate (the
default), side by side on the same photos, holes and random starts.

    python bench/keypoint_photos.py --photos my_photos/ --masks center --nIter 300 --out results_keypoints

Each photo (and skimage's astronaut) is damaged with each mask drawn on its face box, as
complete.py --image --maskType does, and inpainted three times (photo.inpaint_photo with
--keypoints clean, dlib, estimate), each from --seeds random starts. Reported per photo: PSNR
in the hole of the face crop after blending at the crop's size, against the crop of the
photo itself, its mean over the starts (one search of one face is noisy), and the landmark error of the hidden points over the eye
distance; then the medians. The figures show the first start's fills. Writes photos.json, a
table (photos.md) and zoomed figures (the damaged crop, each map and its fill, the truth).
Use photos of people the model was not trained on, and no LFW.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

SOURCES = ("clean", "dlib", "estimate")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--photos", default=None, help="folder of photos (the astronaut is always first)")
    p.add_argument("--checkpoint_dir", default=None, help="the model (default: the shipped one)")
    p.add_argument("--masks", default="center", help="comma list of mask types drawn on each face box")
    p.add_argument("--nIter", type=int, default=300, help="search steps per photo and map")
    p.add_argument("--seeds", type=int, default=3,
                   help="random starts per photo and map (seeds 0, 1, ...; the same for the three maps): one search "
                        "of one face is noisy, so each photo's PSNR is the mean over them")
    p.add_argument("--out", default="results_keypoints", help="where photos.json, photos.md and figures go")
    return p.parse_args(argv)


def hole_psnr(fill, truth, known):
    """PSNR (dB) over the hole pixels of [-1, 1] crops."""
    hole = known < 0.5
    mse = np.mean(((fill[hole] - truth[hole]) / 2) ** 2)
    return float(10 * np.log10(1 / mse))


def main(args):
    from core.configs import SHIPPED_MODEL, SearchConfig
    from facedata.faces import FaceFinder, crop_pixels, list_images, load_rgb
    from facedata.keypoints import draw_keypoint_map
    from facedata.shape import load_face_prior
    from inpainting.inpaint import LatentSearch, load_model
    from inpainting.photo import inpaint_photo, known_in_crop
    from paper.figures import fills_figure
    from paper.keypoint_study import hidden_truth, landmark_error
    from utils import from_uint8, save_image, save_json, to_uint8
    checkpoint_dir = args.checkpoint_dir or SHIPPED_MODEL
    gan = load_model(checkpoint_dir)
    size = gan.config.output_size
    searches = [LatentSearch(gan, SearchConfig(batch_size=1, nIter=args.nIter, outInterval=args.nIter, seed=seed))
                for seed in range(args.seeds)]
    finder, prior = FaceFinder(None, size), load_face_prior(checkpoint_dir)
    from skimage import data
    photos = [("astronaut (scikit-image)", data.astronaut())]
    photos += [(os.path.basename(p), load_rgb(p)) for p in (list_images(args.photos) if args.photos else [])]
    rows, figures = [], {}
    for mask_type in args.masks.split(","):
        for name, photo in photos:
            row = {"photo": name, "mask": mask_type}
            fills = {}
            for source in SOURCES:
                runs = [inpaint_photo(gan, search, photo, finder, name=name, keypoints=source, prior=prior,
                                      mask_type=mask_type) for search in searches]
                fill = fills[source] = runs[0]
                known = known_in_crop(fill.photo_mask, fill.box, size)
                truth = from_uint8(crop_pixels(photo, fill.box, size))
                row[f"psnr_{source}_per_seed"] = [hole_psnr(r.blended, truth, known) for r in runs]
                row[f"psnr_{source}"] = float(np.mean(row[f"psnr_{source}_per_seed"]))
            clean = fills["clean"].landmarks.landmarks[None]
            hidden = hidden_truth(clean, known[None])
            for source in ("dlib", "estimate"):
                error = landmark_error(fills[source].landmarks.landmarks[None], clean, hidden)[0]
                row[f"landmarks_{source}"] = None if np.isnan(error) else float(error)
            rows.append(row)
            print(f"{mask_type:12s} {name[:28]:28s} " + "  ".join(f"{s} {row[f'psnr_{s}']:.2f}" for s in SOURCES),
                  flush=True)
            figures.setdefault(mask_type, []).append(
                [to_uint8(from_uint8(crop_pixels(fills["clean"].damaged, fills["clean"].box, size)))]
                + [x for s in SOURCES for x in (fills[s].keypoint_map, to_uint8(fills[s].blended))]
                + [crop_pixels(photo, fills["clean"].box, size)])
    os.makedirs(args.out, exist_ok=True)
    titles = ["damaged"] + [f"{s} {w}" for s in SOURCES for w in ("map", "fill")] + ["truth"]
    for mask_type, faces in figures.items():
        columns = [(t, np.stack([f[i] for f in faces])) for i, t in enumerate(titles)]
        save_image(os.path.join(args.out, f"photos_{mask_type}.png"), fills_figure(columns, examples=len(faces)))
    lines = [f"PSNR (dB) in the hole of the {size}x{size} face crop after blending, {args.nIter} search steps, the "
             f"mean of {args.seeds} random starts; landmark error of the hidden points over the eye distance", "",
             "| mask | photo | clean map | dlib on the damaged photo | estimate | estimate - dlib | "
             "landmarks: dlib | estimate |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        errors = [("-" if r[f"landmarks_{s}"] is None else f"{r[f'landmarks_{s}']:.3f}") for s in ("dlib", "estimate")]
        lines.append(f"| {r['mask']} | {r['photo']} | {r['psnr_clean']:.2f} | {r['psnr_dlib']:.2f} | "
                     f"{r['psnr_estimate']:.2f} | {r['psnr_estimate'] - r['psnr_dlib']:+.2f} | " + " | ".join(errors)
                     + " |")
    for mask_type in args.masks.split(","):
        own = [r for r in rows if r["mask"] == mask_type]
        median = {s: float(np.median([r[f"psnr_{s}"] for r in own])) for s in SOURCES}
        gain = float(np.median([r["psnr_estimate"] - r["psnr_dlib"] for r in own]))
        lines.append(f"| {mask_type} | median of {len(own)} | {median['clean']:.2f} | {median['dlib']:.2f} | "
                     f"{median['estimate']:.2f} | {gain:+.2f} | | |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "photos.md"), "w") as f:
        f.write(text)
    save_json(os.path.join(args.out, "photos.json"), {"settings": vars(args), "photos": rows})
    print(text)
    return rows


if __name__ == "__main__":
    main(parse_args())
