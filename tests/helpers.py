"""What several test files share: whether dlib can run here, and a real photo."""
import pytest

import faces
from utils import UserError


def have_dlib():
    try:
        faces.FaceFinder()
        return True
    except UserError:
        return False


needs_dlib = pytest.mark.skipif(not have_dlib(), reason="dlib or the landmark model is not installed")


def astronaut():
    """skimage's astronaut (512 x 512 RGB); the test is skipped where skimage is not installed."""
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()
