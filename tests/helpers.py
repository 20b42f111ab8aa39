"""What several test files share: the repository's root, whether dlib can run here, a real photo, and
images as the page receives them."""
import base64
import io
import os

import pytest

from facedata import faces
from utils import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def png_bytes(image):
    """A PIL image as the bytes of a PNG file."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(raw, media_type="image/png"):
    """Bytes as the data URL a browser's FileReader sends the page."""
    return "data:%s;base64,%s" % (media_type, base64.b64encode(raw).decode("ascii"))
