import numpy as np
import pytest
from PIL import Image

from inpainting import masks
from inpainting.blend import poisson_blend
from utils import UserError


def test_center_mask():
    m = masks.make_mask("center", 64)
    assert m.dtype == np.float32 and m.shape == (64, 64)
    assert m[16:48, 16:48].sum() == 0 and m.sum() == 64 * 64 - 32 * 32
    m = masks.make_mask("center", 128, center_scale=0.3)
    assert m[38:89, 38:89].sum() == 0 and m.sum() == 128 * 128 - 51 * 51


@pytest.mark.parametrize("side, hole", [("left", np.s_[:, :32]), ("right", np.s_[:, 32:]),
                                        ("top", np.s_[:32, :]), ("bottom", np.s_[32:, :])])
def test_half_masks(side, hole):
    m = masks.make_mask(side, 64)
    assert m[hole].sum() == 0 and m.sum() == 64 * 32


def test_checkboard_quadrants():
    m = masks.make_mask("checkboard", 64)
    assert m[:32, 32:].sum() == 0 and m[32:, :32].sum() == 0
    assert m[:32, :32].min() == 1 and m[32:, 32:].min() == 1
    small = masks.checkboard(64, 8)
    assert small[0, 0] == 1 and small[0, 8] == 0 and small[8, 8] == 1 and small.mean() == 0.5


def test_freehand_polygon_scales_with_size():
    m64, m128 = masks.make_mask("freehand_poly", 64), masks.make_mask("freehand_poly", 128)
    assert m64[30, 20] == 0 and m64[60, 60] == 1 and m64[2, 2] == 1
    assert m128[60, 40] == 0
    assert abs((1 - m128).mean() - (1 - m64).mean()) < 0.01


def test_full_grid_and_random():
    assert masks.make_mask("full", 32).min() == 1
    grid = masks.make_mask("grid", 64)
    assert grid.sum() == 16 * 16 and grid[::4, ::4].min() == 1
    a = masks.make_mask("random", 64, fraction_masked=0.75, rng=np.random.default_rng(3))
    b = masks.make_mask("random", 64, fraction_masked=0.75, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert abs((1 - a).mean() - 0.75) < 0.03
    with pytest.raises(UserError, match="unknown --maskType"):
        masks.make_mask("square", 64)


def test_painted_strokes_are_drawn_per_face_from_the_seed():
    """strokes: brush strokes as a user paints them, a new set for each face, face i's the
    same whatever the number of faces; they cover 2% to 50% of the crop."""
    many, few = masks.masks_for(40, 64, "strokes", seed=3), masks.masks_for(5, 64, "strokes", seed=3)
    np.testing.assert_array_equal(many[:5], few)
    assert not np.array_equal(many[0], many[1]) and not np.array_equal(many[0], masks.masks_for(1, 64, "strokes")[0])
    covered = 1 - many.mean(axis=(1, 2))
    assert 0.02 < covered.min() and covered.max() < 0.5 and 0.1 < np.median(covered) < 0.3
    assert set(np.unique(many)) == {0.0, 1.0}


def test_mask_files(tmp_path):
    image = np.full((32, 32), 255, np.uint8)
    image[8:20, 8:20] = 0
    Image.fromarray(image).save(tmp_path / "m.png")
    m = masks.load_mask(tmp_path / "m.png", 32)
    assert m[8:20, 8:20].sum() == 0 and m.sum() == 32 * 32 - 144
    with pytest.raises(UserError, match="is 32x32 but the model is 64x64"):
        masks.load_mask(tmp_path / "m.png", 64)
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "white.png")
    with pytest.raises(UserError, match="no hole"):
        masks.load_mask(tmp_path / "white.png", 32)
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(UserError, match="cannot read mask file"):
        masks.load_mask(tmp_path / "junk.png", 32)


def test_temporal_masks_cover_ranges_and_follow_the_seed():
    centers = masks.temporal_masks("center", 64, 200, np.random.default_rng(0))
    holes = np.sqrt((1 - centers).sum(axis=(1, 2)))
    assert holes.min() >= 64 * 0.4 - 1 and holes.max() <= 64 * 0.6 + 1 and holes.std() > 2
    boards = masks.temporal_masks("checkboard", 64, 60, np.random.default_rng(0))
    tiles = {int(np.argmin(b[0])) for b in boards}  # first missing column = tile size
    assert tiles == {8, 16, 32}
    polys = masks.temporal_masks("freehand_poly", 64, 60, np.random.default_rng(0))
    assert len({p.tobytes() for p in polys}) == 4
    again = masks.temporal_masks("freehand_poly", 64, 60, np.random.default_rng(0))
    np.testing.assert_array_equal(polys, again)


# ------------------------------------------------------------------ Poisson blending

def dense_reference(target, source, mask):
    """Solve the same Poisson equations densely, pixel by pixel (tiny images only)."""
    h, w = mask.shape
    hole = [(y, x) for y in range(h) for x in range(w) if mask[y, x] < 0.5]
    index = {p: i for i, p in enumerate(hole)}
    A = np.zeros((len(hole), len(hole)))
    b = np.zeros((len(hole), target.shape[-1]))
    for i, (y, x) in enumerate(hole):
        for qy, qx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= qy < h and 0 <= qx < w:
                A[i, i] += 1
                b[i] += source[y, x] - source[qy, qx]
                if (qy, qx) in index:
                    A[i, index[(qy, qx)]] -= 1
                else:
                    b[i] += target[qy, qx]
    out = target.copy()
    solution = np.linalg.solve(A, b)
    for i, (y, x) in enumerate(hole):
        out[y, x] = solution[i]
    return out


@pytest.mark.parametrize("solver", ["banded", "splu", "pyamg"])
def test_blend_matches_dense_reference(solver):
    rng = np.random.default_rng(0)
    target, source = rng.uniform(-1, 1, (2, 12, 12, 3)), rng.uniform(-1, 1, (2, 12, 12, 3))
    mask = (rng.random((12, 12)) > 0.4).astype(np.float32)
    mask[0, 0] = 1
    ours = poisson_blend(target, source, np.stack([mask, mask]), solver=solver, clip=None)
    for i in range(2):
        np.testing.assert_allclose(ours[i], dense_reference(target[i], source[i], mask), atol=1e-7)


def test_blend_keeps_known_pixels_and_reproduces_equal_source():
    rng = np.random.default_rng(1)
    target = rng.uniform(-1, 1, (3, 32, 32, 3))
    source = rng.uniform(-1, 1, (3, 32, 32, 3))
    m = np.stack([masks.make_mask(t, 32) for t in ("center", "checkboard", "left")])
    out = poisson_blend(target, source, m)
    known = m[..., None].repeat(3, -1) > 0.5
    np.testing.assert_array_equal(out[known], target[known])
    np.testing.assert_allclose(poisson_blend(target, target, m, clip=None), target, atol=1e-10)


def test_no_wrap_around_between_left_and_right_edges():
    # The hole is the left half; only the right-most column of the target is bright. The
    # source is flat, so the hole must take the value of its true boundary (column 16): 0.
    target = np.zeros((1, 32, 32, 1))
    target[..., -1, :] = 1.0
    out = poisson_blend(target, np.zeros_like(target), masks.make_mask("left", 32)[None], clip=None)
    assert np.abs(out[0, :, :16]).max() < 1e-9


def test_blend_edge_cases():
    x = np.zeros((1, 8, 8, 3))
    g = np.ones((1, 8, 8, 3)) * 0.5
    np.testing.assert_array_equal(poisson_blend(x, g, np.ones((1, 8, 8))), x)       # nothing to fill
    np.testing.assert_array_equal(poisson_blend(x, g, np.zeros((1, 8, 8))), g)      # no boundary
