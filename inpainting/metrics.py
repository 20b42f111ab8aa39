"""The measures of an inpainting, per image, on the [0, 1] scale (inputs in [-1, 1]).

psnr and ssim against the truth; laplacian_energy, how much high-frequency detail (or
speckle) a fill carries, to set against the truth's; seam_step and ring_step, how visible
the hole's border is (a pasted patch's edge), to set against the truth's; pairwise_mse, how much several
inpaintings of one face agree (consistency); flicker, how much an inpainted video's fill
changes from frame to frame beyond the truth's change.
"""
import numpy as np

PSNR_CAP_DB = 100.0  # identical images: MSE 0 would give inf; reported as 100 dB
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # Wang et al. 2004, as tf.image.ssim and skimage


def psnr(images, truths):
    """PSNR in dB per image, on the [0, 1] scale; inputs in [-1, 1]; capped at PSNR_CAP_DB."""
    a = (np.asarray(images, np.float64) + 1) / 2
    b = (np.asarray(truths, np.float64) + 1) / 2
    mse = np.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
    with np.errstate(divide="ignore"):
        return np.minimum(10 * np.log10(1.0 / mse), PSNR_CAP_DB)


def ssim(images, truths):
    """Structural similarity per image (Wang et al. 2004: an 11 x 11 Gaussian window of
    sigma 1.5, the means of the channels' maps over the valid window positions), on the
    [0, 1] scale; images at least 11 px."""
    from core.tfstart import tf
    a, b = ((np.asarray(x, np.float32) + 1) / 2 for x in (images, truths))
    return tf.image.ssim(tf.constant(a), tf.constant(b), max_val=1.0, filter_size=SSIM_WINDOW,
                         filter_sigma=SSIM_SIGMA).numpy().astype(np.float64)


def laplacian_energy(images, masks):
    """Mean squared 4-neighbour Laplacian of each image over its hole pixels (masks [N, S, S],
    1 = known; the border rows and columns, which lack neighbours, left out), summed over
    channels, on the [0, 1] scale. A fill's over the truth's: 1 is as much fine detail as
    the face has; the grid speckle of an undertrained generator makes it larger, a blurred
    fill smaller."""
    x = (np.asarray(images, np.float64) + 1) / 2
    laplacian = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    holes = 1.0 - np.asarray(masks, np.float64)[:, 1:-1, 1:-1]
    return ((laplacian ** 2).sum(axis=-1) * holes).sum(axis=(1, 2)) / np.maximum(holes.sum(axis=(1, 2)), 1)


def seam_step(images, masks):
    """How sharp the hole's border is: the mean, over every pair of 4-neighbours of which one
    is in the hole and one known, of their difference (the L2 norm over channels), on the
    [0, 1] scale. images [N, H, W, C] in [-1, 1]; masks [N, H, W], 1 = known. Against the
    truth's: 1 is a border no sharper than the photo there; a patch's edge makes it larger."""
    x = (np.asarray(images, np.float64) + 1) / 2
    known = np.asarray(masks) > 0.5
    total, pairs = np.zeros(len(x)), np.zeros(len(x))
    for axis in (1, 2):
        a, b = (np.take(x, range(0, x.shape[axis] - 1), axis), np.take(x, range(1, x.shape[axis]), axis))
        across = np.take(known, range(0, known.shape[axis] - 1), axis) != np.take(known, range(1, known.shape[axis]),
                                                                                   axis)
        total += (np.linalg.norm(a - b, axis=-1) * across).sum(axis=(1, 2))
        pairs += across.sum(axis=(1, 2))
    return total / np.maximum(pairs, 1)


def ring_step(images, masks, width=4, cell=16):
    """How much the colour changes across the hole's border at a scale larger than a pixel:
    the inner ring (hole pixels within `width` of a known pixel) and the outer ring (known
    pixels within `width` of the hole), cut into cell x cell tiles; in each tile that holds
    both, the distance between the rings' mean colours (L2 over channels); the mean over
    tiles, on the [0, 1] scale. A patch lighter, darker or pinker than the skin around it
    makes it larger than the truth's."""
    from scipy import ndimage
    x = (np.asarray(images, np.float64) + 1) / 2
    out = np.zeros(len(x))
    for i, (image, mask) in enumerate(zip(x, np.asarray(masks) > 0.5)):
        inner = ~mask & (ndimage.distance_transform_cdt(~mask, metric="chessboard") <= width)
        outer = mask & (ndimage.distance_transform_cdt(mask, metric="chessboard") <= width)
        tiles = ((np.arange(mask.shape[0])[:, None] // cell) * (mask.shape[1] // cell + 1)
                 + np.arange(mask.shape[1])[None, :] // cell).ravel()
        means = []
        for ring in (inner.ravel(), outer.ravel()):
            count = np.bincount(tiles[ring], minlength=tiles.max() + 1)
            sums = [np.bincount(tiles[ring], image.reshape(-1, image.shape[-1])[ring, c], tiles.max() + 1)
                    for c in range(image.shape[-1])]
            means.append((np.stack(sums, -1) / np.maximum(count, 1)[:, None], count > 0))
        both = means[0][1] & means[1][1]
        steps = np.linalg.norm(means[0][0][both] - means[1][0][both], axis=-1)
        out[i] = steps.mean() if len(steps) else 0.0
    return out


def pairwise_mse(inpaintings):
    """[K, H, W, C] in [-1, 1] -> MSE on the [0, 1] scale for every pair j < k, shape [K(K-1)/2]."""
    x = (np.asarray(inpaintings, np.float64) + 1) / 2
    j, k = np.triu_indices(len(x), 1)
    return np.mean((x[j] - x[k]) ** 2, axis=(1, 2, 3))


def flicker(inpainted, truth, masks):
    """Temporal flicker of an inpainted video without optical flow: the mean over t >= 1 of
    the squared difference between the inpainting's frame-to-frame change and the truth's,
    (y_hat_t - y_hat_t-1) - (y_t - y_t-1), over the pixels missing in frame t or t - 1, on
    the [0, 1] scale. 0 for a perfect reconstruction (and for any error that stays the same
    from frame to frame); noise that changes every frame makes it positive.
    inpainted, truth: [T, H, W, C] in [-1, 1]; masks: [T, H, W] (1 = known)."""
    inpainted, truth = (np.asarray(x, np.float64) / 2 for x in (inpainted, truth))  # [0, 1]-scale steps
    change = np.diff(inpainted, axis=0) - np.diff(truth, axis=0)
    holes = 1.0 - np.asarray(masks, np.float64)
    either = np.maximum(holes[1:], holes[:-1])[..., None]
    pixels = np.maximum(either.sum(axis=(1, 2, 3)) * change.shape[-1], 1)
    per_frame = (change ** 2 * either).sum(axis=(1, 2, 3)) / pixels
    return float(per_frame.mean()) if len(per_frame) else 0.0
