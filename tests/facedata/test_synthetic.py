import numpy as np

from facedata import keypoints, synthetic


def test_deterministic_in_seed_and_index():
    a = synthetic.synthetic_face(3, 7, 64)
    b = synthetic.synthetic_face(3, 7, 64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = synthetic.synthetic_face(4, 7, 64)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[2], synthetic.synthetic_face(3, 8, 64)[2])


def test_landmarks_are_valid_faces_inside_the_frame():
    for index in range(50):
        image, keypoint_map, landmarks = synthetic.synthetic_face(0, index, 64)
        assert image.shape == keypoint_map.shape == (64, 64, 3)
        assert landmarks.shape == (68, 2)
        assert np.all(landmarks > -0.1 * 64) and np.all(landmarks < 1.1 * 64)
        # Anatomy in image coordinates: brows above eyes above nose tip above mouth above chin.
        assert landmarks[17:27, 1].mean() < landmarks[36:48, 1].mean() < landmarks[33, 1] \
            < landmarks[48:68, 1].mean() < landmarks[8, 1]
        assert landmarks[36:42, 0].mean() < landmarks[42:48, 0].mean()  # subject's right eye on image left
        np.testing.assert_array_equal(keypoint_map, keypoints.draw_keypoint_map(landmarks, 64))


def test_geometry_and_appearance_are_independent():
    rng = np.random.default_rng
    geometry = synthetic.sample_geometry(rng(1))
    first = synthetic.render_face(geometry, synthetic.sample_appearance(rng(2)), 64)
    second = synthetic.render_face(geometry, synthetic.sample_appearance(rng(3)), 64)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 10
    other = synthetic.render_face(synthetic.sample_geometry(rng(4)), synthetic.sample_appearance(rng(2)), 64)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 3
    # Face i's map depends only on its geometry stream.
    _, keypoint_map, landmarks = synthetic.synthetic_face(0, 5, 64)
    expected = synthetic.sample_geometry(rng([0, 5, 0])) * 64
    np.testing.assert_allclose(landmarks, expected)


def test_faces_are_varied_and_look_like_faces():
    images = np.stack([synthetic.synthetic_face(0, i, 64)[0] for i in range(16)]).astype(float)
    assert images.std(axis=0).mean() > 20  # not all the same face
    for image, (_, _, landmarks) in zip(images, (synthetic.synthetic_face(0, i, 64) for i in range(16))):
        mouth = image[tuple(np.round(landmarks[57][::-1] - [1, 0]).astype(int))]
        assert mouth[0] > mouth[2]  # lips are red-ish
