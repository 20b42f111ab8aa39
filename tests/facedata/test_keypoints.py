import numpy as np
import pytest

from facedata import keypoints
from facedata.synthetic import TEMPLATE


def colour_at(image, point):
    x, y = np.round(point).astype(int)
    return tuple(image[y, x])


def region_colour(name):
    return {n: c for n, _, c in keypoints.REGIONS}[name]


def test_map_uses_exact_palette_and_region_colours():
    landmarks = TEMPLATE * 128
    image = keypoints.draw_keypoint_map(landmarks, 128)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert colours <= set(keypoints.PALETTE)
    assert colour_at(image, [2, 2]) == keypoints.BACKGROUND
    assert colour_at(image, landmarks[[62, 66]].mean(0)) == region_colour("mouth")
    assert colour_at(image, landmarks[30] - [0, 3]) == region_colour("nose")
    assert colour_at(image, landmarks[36:42].mean(0)) == region_colour("right_eye")
    assert colour_at(image, landmarks[42:48].mean(0)) == region_colour("left_eye")
    assert colour_at(image, landmarks[19] + [0, 1]) == region_colour("right_eyebrow")
    assert colour_at(image, landmarks[24] + [0, 1]) == region_colour("left_eyebrow")
    cheek = (landmarks[3] + landmarks[31]) / 2
    assert colour_at(image, cheek) == keypoints.FACE
    assert colour_at(image, landmarks[8] - [0, 0.4]) == keypoints.JAW


def test_later_regions_paint_over_earlier_ones():
    landmarks = TEMPLATE * 128
    landmarks[27:36] += landmarks[62] - landmarks[30]  # move the nose onto the mouth
    image = keypoints.draw_keypoint_map(landmarks, 128)
    assert colour_at(image, landmarks[30] - [0, 2]) == region_colour("nose")


def test_nose_includes_point_35():
    landmarks = TEMPLATE * 128
    landmarks[35] += [12, 0]  # pull the left nostril out; only point 35 spans this pixel
    image = keypoints.draw_keypoint_map(landmarks, 128)
    assert colour_at(image, landmarks[35] - [3, 2]) == region_colour("nose")


@pytest.mark.parametrize("size, width", [(128, 2), (64, 1), (256, 4)])
def test_jaw_width_scales_with_size(size, width):
    assert keypoints.jaw_width(size) == width
    image = keypoints.draw_keypoint_map(TEMPLATE * size, size)
    column = int(round(TEMPLATE[8, 0] * size))
    jaw_rows = np.all(image[:, column] == keypoints.JAW, axis=-1).sum()
    assert width <= jaw_rows <= width + 1


def test_degenerate_regions_do_not_fail():
    landmarks = TEMPLATE * 64
    landmarks[36:42, 1] = landmarks[36, 1]  # a closed eye is a line
    landmarks[42:48] = landmarks[42]        # or a point
    assert keypoints.draw_keypoint_map(landmarks, 64).shape == (64, 64, 3)


def test_wrong_landmark_shape_is_rejected():
    with pytest.raises(ValueError, match="68, 2"):
        keypoints.draw_keypoint_map(np.zeros((5, 2)), 64)
