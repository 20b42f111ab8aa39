"""The README's pose/appearance figures of a conditioned generator.

same_k_diff_z.png: each row one keypoint map (first column) with 8 different z.
same_z_diff_k.png: the first row 8 keypoint maps; each further row one z under those maps.
If the map decides the pose and z the appearance, rows of the first figure share a pose
and rows of the second share an appearance.
"""
import os

import numpy as np

from utils import UserError, from_uint8, image_grid, save_image, save_json, to_uint8


def generate_all_pairs(gan, z, keypoint_maps):
    """G(z_j, k_i) for every map i and z j: [maps, zs, S, S, 3] in [-1, 1]."""
    from core.tfstart import tf
    n_maps, n_z = len(keypoint_maps), len(z)
    maps = np.repeat(keypoint_maps, n_z, axis=0)
    zs = np.tile(z, (n_maps, 1))
    out = gan.generator(tf.constant(zs, tf.float32), tf.constant(maps, tf.float32), training=False).numpy()
    return out.reshape(n_maps, n_z, *out.shape[1:])


def face_regions(keypoint_maps):
    """[maps, S, S] True where a keypoint map ([-1, 1]) is not background."""
    from facedata.keypoints import BACKGROUND
    background = from_uint8(BACKGROUND)
    return np.abs(np.asarray(keypoint_maps) - background).max(axis=-1) > 0.05


def decoupling_scores(pairs, regions=None):
    """How much of the variation of G(z_j, k_i) ([maps, zs, S, S, 3]) comes from z and how much
    from the map, split into appearance (mean colour inside map i's face region, `regions`
    [maps, S, S]; the whole image if None) and structure (the image minus its mean colour).
    Each score is the variance of the one-factor means (the main effect of that factor).
    Decoupled means: appearance from z, structure from the map."""
    pairs = (np.asarray(pairs, np.float64) + 1) / 2
    if regions is None:
        regions = np.ones(pairs.shape[:1] + pairs.shape[2:4], bool)
    weights = np.asarray(regions, np.float64)[:, None, :, :, None]
    colour = (pairs * weights).sum(axis=(2, 3)) / weights.sum(axis=(2, 3))   # [maps, zs, 3]
    structure = pairs - colour[:, :, None, None, :]
    return {
        "appearance_from_z": float(colour.mean(axis=0).var(axis=0).mean()),
        "appearance_from_map": float(colour.mean(axis=1).var(axis=0).mean()),
        "structure_from_map": float(structure.mean(axis=1).var(axis=0).mean()),
        "structure_from_z": float(structure.mean(axis=0).var(axis=0).mean()),
    }


def pose_appearance_figures(gan, keypoint_maps, out_dir, seed=0, count=8):
    """Write the two figures and decoupling.json (decoupling_scores); returns the figure paths."""
    if not gan.config.conditional:
        raise UserError("an unconditioned model (conditional=False) takes no keypoint map: "
                        "--visualize needs a conditioned one")
    keypoint_maps = np.asarray(keypoint_maps)[:count]
    z = np.random.default_rng(seed).uniform(-1, 1, (count, gan.config.z_dim)).astype(np.float32)
    pairs = generate_all_pairs(gan, z, keypoint_maps)
    blank = -np.ones_like(keypoint_maps[:1])
    same_k = np.concatenate([keypoint_maps[:, None], pairs], axis=1)                     # rows: maps
    same_z = np.concatenate([np.concatenate([blank, keypoint_maps])[None],
                             np.concatenate([np.repeat(blank[None], count, 0), pairs.transpose(1, 0, 2, 3, 4)],
                                            axis=1)], axis=0)                            # rows: z
    paths = [os.path.join(out_dir, "same_k_diff_z.png"), os.path.join(out_dir, "same_z_diff_k.png")]
    for path, grid in zip(paths, (same_k, same_z)):
        rows, cols = grid.shape[:2]
        save_image(path, image_grid(to_uint8(grid.reshape(rows * cols, *grid.shape[2:])), rows))
    save_json(os.path.join(out_dir, "decoupling.json"), decoupling_scores(pairs, face_regions(keypoint_maps)))
    return paths


def visualize(checkpoint_dir, train_records, out_dir, seed=0, generator="average", maps=None):
    """The two figures of the model in checkpoint_dir, with the first 8 maps of the records
    (or the given [8, S, S, 3] maps in [-1, 1])."""
    from facedata import dataset
    from inpainting.inpaint import load_model
    gan = load_model(checkpoint_dir, generator=generator)  # the architecture comes from its config.json
    size = gan.config.output_size
    if maps is None:
        dataset.check_record_size(train_records, size)
        maps = dataset.first_examples(train_records, size, 8)[1].numpy()
    paths = pose_appearance_figures(gan, np.asarray(maps), out_dir, seed)
    print(f"wrote {' and '.join(paths)}")
    return paths


def fills_figure(columns, examples=2, scale=4):
    """One figure of fills side by side: columns [(title, [N, S, S, 3] uint8 images), ...]
    of the same faces (truth, damaged, each method's fill, ...), the first `examples` faces
    as rows, each `scale` times enlarged (nearest neighbour: the pixels as they are), the
    titles above. Returns the figure, [H, W, 3] uint8."""
    from PIL import Image, ImageDraw
    size = columns[0][1].shape[1] * scale
    label, gap = 14, 2
    width = len(columns) * (size + gap) - gap
    canvas = Image.new("RGB", (width, label + examples * (size + gap) - gap), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for c, (title, images) in enumerate(columns):
        x = c * (size + gap)
        draw.text((x + 2, 1), title[:max(4, size // 6)], fill=(0, 0, 0))
        for r in range(examples):
            tile = Image.fromarray(np.asarray(images[r], np.uint8)).resize((size, size), Image.Resampling.NEAREST)
            canvas.paste(tile, (x, label + r * (size + gap)))
    return np.asarray(canvas)
