"""The inpainting page: its handlers without a browser (bad uploads, sessions), and the
whole page in headless Chromium (Debian's chromium, driven by Playwright)."""
import contextlib
import io
import os
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

import app
from facedata.synthetic import synthetic_face
from helpers import ROOT, data_url, png_bytes
from inpainting.inpaint import load_model
from webpage import webapp, webserver


@pytest.fixture(scope="module")
def page_app(tiny_model):
    ckpt = tiny_model[0]
    return webapp.App([webapp.Model("model", load_model(ckpt), ckpt)])


def wait_done(page_app, session):
    for _ in range(600):
        progress = page_app.progress({"session": session})
        if progress["done"]:
            return progress
        threading.Event().wait(0.05)
    raise AssertionError("the search did not finish")


@pytest.mark.parametrize("name, raw, message", [
    ("corrupt.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 200, "corrupt.jpg is not a usable image"),
    ("notes.txt", b"just some text, not a photo\n" * 10, "notes.txt is not a usable image"),
    ("flat.png", png_bytes(Image.new("RGB", (200, 200), (120, 130, 140))), "dlib finds no face in flat.png"),
    ("huge.png", png_bytes(Image.new("L", (9000, 9000))), "huge.png has 81 megapixels"),
    ("bomb.png", png_bytes(Image.new("1", (14000, 14000))), "bomb.png has too many megapixels"),
    ("tiny.png", png_bytes(Image.new("RGB", (4, 4))), "tiny.png is not a usable image"),
])
def test_a_bad_upload_is_one_line_and_the_server_goes_on(page_app, name, raw, message):
    pytest.importorskip("dlib")
    session = page_app.new_session()["session"]
    status, answer = page_app.handle("upload", {"session": session, "name": name, "data": data_url(raw)})
    assert status == 400 and message in answer["error"] and "\n" not in answer["error"]
    status, view = page_app.handle("face", {"session": session, "index": 2})  # and it still serves
    assert status == 200 and len(view["points"]) == 68


def test_a_photo_upload_finds_the_face(page_app):
    pytest.importorskip("dlib")
    from helpers import astronaut
    session = page_app.new_session()["session"]
    status, view = page_app.handle("upload", {"session": session, "name": "astronaut.png",
                                              "data": data_url(png_bytes(Image.fromarray(astronaut())))})
    assert status == 200, view
    points = np.array(view["points"])
    assert points.shape == (68, 2) and np.all((points.mean(axis=0) > 8) & (points.mean(axis=0) < 24))
    assert -4 < points.min() and points.max() < 40  # dlib's box is tight: the chin may reach below it


def test_two_sessions_keep_their_own_state(page_app):
    a, b = (page_app.new_session()["session"] for _ in range(2))
    page_app.handle("face", {"session": a, "index": 0})
    page_app.handle("face", {"session": b, "index": 5})
    page_app.handle("mask", {"session": a, "type": "center"})
    moved = page_app.handle("keypoints", {"session": b, "expression": {"opening": 0.1}})[1]
    view_a = page_app.handle("keypoints", {"session": a})[1]
    assert view_a["expression"]["opening"] == 0.0 and moved["expression"]["opening"] == 0.1
    assert view_a["face"] != moved["face"]
    assert page_app.sessions[a].mask.min() == 0 and page_app.sessions[b].mask.all()
    status, answer = page_app.handle("run", {"session": b, "steps": 2})
    assert status == 400 and "nothing is masked" in answer["error"]
    assert page_app.handle("run", {"session": a, "steps": 3, "every": 1})[0] == 200
    assert wait_done(page_app, a)["models"]["model"]["step"] == 3
    assert page_app.progress({"session": b}) == {"running": False}
    assert page_app.handle("face", {"session": "nope"})[1]["error"].startswith("this page's session is unknown")


def test_the_search_fills_only_the_hole_and_settings_reproduce_it(page_app, tiny_model, tmp_path):
    """The page's inpainting equals complete.py's on the test pair the page hands out."""
    import zipfile

    import complete
    session = page_app.new_session()["session"]
    page_app.handle("face", {"session": session, "index": 1})
    page_app.handle("mask", {"session": session, "type": "center"})
    assert page_app.handle("run", {"session": session, "steps": 6, "every": 4, "seed": 3})[0] == 200
    result = wait_done(page_app, session)["models"]["model"]
    assert result["status"] == "done" and result["step"] == 6 and result["psnr_after"] > 10
    face = synthetic_face(webapp.TEST_SEED, 1, 32)[0]
    out = np.asarray(Image.open(io.BytesIO(page_app.download({"session": session, "what": "inpainted"})[0])))
    mask = page_app.sessions[session].mask > 0.5
    np.testing.assert_array_equal(out[mask], face[mask])
    assert np.abs(out[~mask].astype(int) - face[~mask]).mean() > 1
    with zipfile.ZipFile(io.BytesIO(page_app.download({"session": session, "what": "settings"})[0])) as z:
        z.extractall(tmp_path)
    command = open(tmp_path / "settings.json").read().split('"reproduce": "')[1].split('"')[0].split()[2:]
    assert command[1] == os.path.basename(tiny_model[0])  # the folder's name: no path of the server's disk
    os.symlink(tiny_model[0], tmp_path / command[1])  # the user runs it beside their copy of the model
    os.chdir(tmp_path)
    try:
        complete.main(complete.parse_args(command))
    finally:
        os.chdir(ROOT)
    again = np.asarray(Image.open(tmp_path / "inpainted" / "completed" / "0_blended.png"))
    assert np.abs(again.astype(int) - out).max() <= 1


def test_app_flags_have_defaults():
    args = app.parse_args([])
    assert (args.host, args.port, args.checkpoint_dir, args.generator) == ("127.0.0.1", 7860, None, "average")
    assert not hasattr(args, "results")  # the page uses the shipped real-face model, not experiments.py's


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def wait_until(page, expression, seconds=30):
    """Poll a JavaScript expression from Python until it is true: Playwright's
    wait_for_function evaluates its predicate with eval, which the page's CSP forbids."""
    for _ in range(int(seconds / 0.05)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"not within {seconds} s: {expression}")


@contextlib.contextmanager
def page_in_chromium(page_app, viewport):
    """(page, url): the app served on a free port and loaded in headless Chromium, ready."""
    from playwright.sync_api import sync_playwright
    server = webserver.make_server(page_app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            page = browser.new_page(viewport=viewport)
            errors = []  # a style or script the page's CSP blocks shows up here
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            wait_until(page, "document.getElementById('status').textContent === 'ready'")
            assert page.evaluate("getComputedStyle(document.body).marginTop") == "16px"  # app.css applied
            yield page, url
            browser.close()
            assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(os.environ.get("CI") != "true" and not chromium(), reason="needs Debian's chromium (CI has it)")
def test_the_page_in_a_real_browser(page_app, tmp_path):
    """Load the page, pick a test face, paint a hole, drag a mouth landmark, run 5 search
    steps and read back an inpainted image whose hole changed and whose known pixels did not."""
    with page_in_chromium(page_app, {"width": 1280, "height": 1000}) as (page, url):
        page.select_option("#face-select", "3")
        page.click("#load-face")
        wait_until(page, "window.appState.hasFace")
        box = page.locator("#canvas").bounding_box()
        page.mouse.move(box["x"] + 110, box["y"] + 150)
        page.mouse.down()
        for x in range(110, 220, 10):
            page.mouse.move(box["x"] + x, box["y"] + 160)
        page.mouse.up()
        map_before = page.get_attribute("#map", "src")
        page.check("#tool-landmarks")
        lip = page.evaluate("window.appState.points[57]")  # the lower lip's middle
        scale = 320 / 32
        start = (box["x"] + (lip[0] + 0.5) * scale, box["y"] + (lip[1] + 0.5) * scale)
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(start[0], start[1] + 30, steps=5)
        page.mouse.up()
        wait_until(page, f"document.getElementById('map').src !== {map_before!r}")
        assert page.evaluate("window.appState.points[57][1]") > lip[1] + 2
        page.fill("#steps", "5")
        page.fill("#every", "1")
        page.click("#run")
        wait_until(page, "document.getElementById('status').textContent === 'done'", 60)
        page.screenshot(path=str(tmp_path / "page.png"))
        session = page.evaluate("window.appState.session")
        answer = page.request.get(f"{url}api/download?session={session}&what=inpainted")
        assert answer.ok
        out = np.asarray(Image.open(io.BytesIO(answer.body())))
        mask = np.asarray(Image.open(io.BytesIO(
            page.request.get(f"{url}api/download?session={session}&what=mask").body()))) > 127
    face = synthetic_face(webapp.TEST_SEED, 3, 32)[0]
    assert 20 < (~mask).sum() < 0.6 * mask.size  # the painted hole
    np.testing.assert_array_equal(out[mask], face[mask])
    assert np.abs(out[~mask].astype(int) - face[~mask]).mean() > 1
    if os.environ.get("APP_SCREENSHOT"):
        shutil.copy(tmp_path / "page.png", os.environ["APP_SCREENSHOT"])


def test_downloads_describe_the_run_and_stop_acts_at_once(page_app):
    """A stopped search says so, its settings name the steps it took, editing after a run
    does not change what the run's downloads describe, and a new face drops the old result."""
    import json
    import zipfile
    session = page_app.new_session()["session"]
    page_app.handle("face", {"session": session, "index": 4})
    page_app.handle("mask", {"session": session, "type": "left"})
    page_app.handle("run", {"session": session, "steps": 4, "every": 2})
    wait_done(page_app, session)
    page_app.handle("mask", {"session": session, "type": "center"})  # edited after the run
    page_app.handle("keypoints", {"session": session, "expression": {"opening": 0.1}})
    with zipfile.ZipFile(io.BytesIO(page_app.download({"session": session, "what": "settings"})[0])) as z:
        mask = np.asarray(Image.open(io.BytesIO(z.read("pair/mask.png"))))
        settings = json.loads(z.read("settings.json"))
    assert mask[:, :16].max() == 0 and mask[:, 16:].min() == 255  # the left mask the run used
    assert settings["expression"]["opening"] == 0.0 and "--nIter 4 " in settings["reproduce"]
    model = page_app.models[0]
    with model.lock:  # another tab's search holds the model: this one waits, and stop ends the wait
        page_app.handle("run", {"session": session, "steps": 3})
        page_app.handle("stop", {"session": session})
        progress = wait_done(page_app, session)
    assert progress["models"]["model"]["status"] == "stopped" and progress["error"] is None
    page_app.handle("face", {"session": session, "index": 5})
    status, answer = page_app.handle("run", {"session": session, "steps": 1, "seed": -1})
    assert status == 400 and "seed -1" in answer["error"]
    with pytest.raises(webapp.PageError, match="run a search on this face first"):
        page_app.download({"session": session, "what": "inpainted"})
    status, answer = page_app.handle("upload", {"session": session, "data": 5})
    assert status == 400 and "\n" not in answer["error"]


def test_a_photo_fill_is_pasted_back_into_the_whole_photo(page_app):
    pytest.importorskip("dlib")
    skimage_data = pytest.importorskip("skimage.data")
    info = page_app.new_session()
    session, index = info["session"], info["faces"].index("astronaut photo (scikit-image)")
    view = page_app.pick_face({"session": session, "index": index})
    assert len(view["points"]) == 68
    with pytest.raises(webapp.PageError, match="run a search"):
        page_app.download({"session": session, "what": "photo"})
    page_app.mask_of_type({"session": session, "type": "center"})
    page_app.run({"session": session, "steps": 3, "every": 3})
    report = wait_done(page_app, session)["models"]["model"]
    assert report["photo"].startswith("data:image/png")
    body, kind, name = page_app.download({"session": session, "what": "photo"})
    whole, photo = np.asarray(Image.open(io.BytesIO(body))), skimage_data.astronaut()
    assert (kind, name, whole.shape) == ("image/png", "inpainted_photo.png", photo.shape)  # full size
    left, top, right, bottom = page_app.session({"session": session}).box
    changed = np.argwhere((whole != photo).any(axis=-1))
    assert len(changed) > 50  # the hole was filled ...
    assert (changed[:, 0] >= top).all() and (changed[:, 0] < bottom).all()  # ... inside the face box only,
    assert (changed[:, 1] >= left).all() and (changed[:, 1] < right).all()
    inner = whole[top:bottom, left:right][: (bottom - top) // 8]  # and not in the box's known rim
    assert np.array_equal(inner, photo[top:bottom, left:right][: (bottom - top) // 8])
    page_app.pick_face({"session": session, "index": 0})  # a synthetic face has no photo to paste into
    page_app.mask_of_type({"session": session, "type": "center"})
    page_app.run({"session": session, "steps": 2, "every": 2})
    wait_done(page_app, session)
    with pytest.raises(webapp.PageError, match="not from a photo"):
        page_app.download({"session": session, "what": "photo"})


@pytest.mark.skipif(os.environ.get("CI") != "true" and not chromium(), reason="needs Debian's chromium (CI has it)")
def test_a_photo_upload_in_a_real_browser_with_the_shipped_model(tmp_path):
    """The default page (the shipped 64x64 real-face model): upload a portrait, apply a center
    hole, run 300 steps, and get back the whole photo, its hole filled and nothing else changed."""
    pytest.importorskip("dlib")
    skimage_data = pytest.importorskip("skimage.data")
    from core.configs import SHIPPED_MODEL
    photo = skimage_data.astronaut()
    Image.fromarray(photo).save(tmp_path / "portrait.png")
    page_app = webapp.App([webapp.Model.of(load_model(SHIPPED_MODEL), SHIPPED_MODEL)])
    assert page_app.size == 64
    with page_in_chromium(page_app, {"width": 1400, "height": 1250}) as (page, url):
        page.set_input_files("#upload", str(tmp_path / "portrait.png"))
        wait_until(page, "window.appState.hasFace")
        page.select_option("#mask-type", "center")
        page.click("#apply-mask")
        page.fill("#steps", "300")
        page.fill("#every", "50")
        page.click("#run")
        wait_until(page, "document.getElementById('status').textContent === 'done'", 120)
        page.wait_for_selector("img.photo")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        session = page.evaluate("window.appState.session")
        whole = np.asarray(Image.open(io.BytesIO(
            page.request.get(f"{url}api/download?session={session}&what=photo").body())))
    assert whole.shape == photo.shape
    changed = (whole != photo).any(axis=-1)
    assert 200 < changed.sum() < 0.1 * changed.size
    left, top, right, bottom = page_app.sessions[session].box
    assert not changed[:top].any() and not changed[bottom:].any()
    assert not changed[:, :left].any() and not changed[:, right:].any()
    if os.environ.get("APP_SCREENSHOT"):
        shutil.copy(tmp_path / "page.png", os.environ["APP_SCREENSHOT"])


def test_a_damaged_photo_gets_the_landmarks_its_hole_hides_estimated(page_app):
    """A photo uploaded with a black hole already in it: "the photo came damaged" masks the
    hole and estimates the landmarks under it (shown apart), which lie closer to those of the
    photo before the damage than dlib's guesses on the black hole; off, dlib's are back."""
    pytest.importorskip("dlib")
    from helpers import astronaut
    from inpainting.masks import make_mask
    from inpainting.photo import mask_on_box
    photo = astronaut()
    clean_session, session = (page_app.new_session()["session"] for _ in range(2))
    clean = page_app.upload({"session": clean_session, "name": "a.png", "data": data_url(png_bytes(Image.fromarray(photo)))})
    box = page_app.session({"session": clean_session}).box
    hole = make_mask("checkboard", page_app.size)  # a hole dlib still finds the face through
    damaged = (photo * mask_on_box(hole, box, *photo.shape[:2])[..., None]).astype(np.uint8)
    guessed = page_app.upload({"session": session, "name": "damaged.png",
                               "data": data_url(png_bytes(Image.fromarray(damaged)))})
    assert page_app.session({"session": session}).box == box and not any(guessed["estimated"])
    view = page_app.damaged({"session": session, "damaged": True})
    mask = webapp.mask_lib.mask_of_image(Image.open(io.BytesIO(webapp.unpng(view["mask"], "mask"))))
    assert (mask < 0.5).sum() >= (hole < 0.5).sum() and ((mask < 0.5) & (hole < 0.5)).sum() > 0.9 * (hole < 0.5).sum()
    estimated = np.array(view["estimated"])
    assert view["damaged"] and 5 < estimated.sum() < 68
    truth, dlib, estimate = (np.array(v["points"]) for v in (clean, guessed, view))
    errors = [np.linalg.norm(p - truth, axis=1)[estimated].mean() for p in (estimate, dlib)]
    assert errors[0] < 0.6 * errors[1]
    view = page_app.damaged({"session": session, "damaged": False})  # off: dlib's landmarks as they were
    assert not any(view["estimated"]) and np.allclose(view["points"], guessed["points"])
    page_app.pick_face({"session": session, "index": 0})
    with pytest.raises(webapp.PageError, match="true landmarks"):
        page_app.damaged({"session": session, "damaged": True})
