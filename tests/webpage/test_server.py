"""Hostile requests against a running page server (webpage/webserver.py over webapp.App): each is a
real HTTP request on a socket, answered with a 4xx and one line or dropped, and the page's
own flow still works after them."""
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, data_url, png_bytes
from inpainting.inpaint import load_model
from webpage import webapp, webserver



@pytest.fixture(scope="module")
def page_app(tiny_model):
    ckpt = tiny_model[0]
    return webapp.App([webapp.Model("model", load_model(ckpt), ckpt)])


@contextlib.contextmanager
def serving(page_app, **limits):
    server = webserver.make_server(page_app, "127.0.0.1", 0, **limits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def raw(port, head, body=b"", timeout=10):
    """Send a request as bytes; (status, headers dict, body bytes) of the answer, or None if
    the server closed the connection without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.replace(b"\n", b"\r\n") + b"\r\n" + body)
        answer = b""
        while chunk := s.recv(1 << 16):
            answer += chunk
    if not answer:
        return None
    head, _, content = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, content


def request(port, method="POST", path="/api/session", body=b"{}", host=None, extra=None, content_type="application/json",
            length=None):
    headers = [f"{method} {path} HTTP/1.1", f"Host: {f'127.0.0.1:{port}' if host is None else host}", "Connection: close"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    if method == "POST":
        headers.append(f"Content-Length: {len(body) if length is None else length}")
    headers += extra or []
    return raw(port, ("\n".join(headers) + "\n").encode(), body if method == "POST" else b"")


def call(port, route, **body):
    status, _, content = request(port, path=f"/api/{route}", body=json.dumps(body).encode())
    return status, json.loads(content)


def one_line(answer):
    status, _, content = answer
    error = json.loads(content)["error"]
    assert error and "\n" not in error and len(error) < 300
    return status, error


def the_page_still_works(port):
    """The page's own flow: a session, a face, a mask, a short search, a download."""
    status, info = call(port, "session")
    assert status == 200
    session = info["session"]
    assert call(port, "face", session=session, index=1)[0] == 200
    assert call(port, "mask", session=session, type="center")[0] == 200
    assert call(port, "run", session=session, steps=2, every=1)[0] == 200
    for _ in range(400):
        status, progress = call(port, "progress", session=session)
        if progress.get("done"):
            break
        time.sleep(0.05)
    assert progress["models"]["model"]["status"] == "done"
    status, _, body = request(port, "GET", f"/api/download?session={session}&what=inpainted", content_type=None)
    assert status == 200 and Image.open(io.BytesIO(body)).size == (32, 32)


def test_only_its_own_host_and_origin_are_answered(page_app):
    with serving(page_app) as port:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert request(port, "GET", "/", host=host, content_type=None)[0] == 200
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", ""):
            status, error = one_line(request(port, "GET", "/api/download?session=x&what=map", host=host,
                                             content_type=None))
            assert status == 403 and "answers only" in error, (host, error)
            assert one_line(request(port, host=host))[0] == 403  # a rebound name reads no session either
        status, error = one_line(request(port, extra=["Origin: http://evil.example"]))
        assert status == 403 and "another site" in error
        assert request(port, extra=[f"Origin: http://127.0.0.1:{port}"])[0] == 200  # the page's own
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            status, error = one_line(request(port, content_type=kind))
            assert status == 415 and "application/json" in error
        status, headers, _ = request(port, "OPTIONS", extra=["Origin: http://evil.example",
                                                             "Access-Control-Request-Method: POST"])
        assert status == 405 and not any(k.startswith("access-control") for k in headers)
        the_page_still_works(port)


def test_framing_and_sniffing_are_refused(page_app):
    with serving(page_app) as port:
        for path in ("/", "/app.js", "/app.css", "/nowhere"):
            status, headers, _ = request(port, "GET", path, content_type=None)
            assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers[
                "content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
            assert not any(k.startswith("access-control") for k in headers)
            assert status == (404 if path == "/nowhere" else 200)


@pytest.mark.parametrize("length, status, words", [("-1", 400, "not a byte count"), ("abc", 400, "not a byte count"),
                                                   ("1e3", 400, "not a byte count"), (None, 411, "Content-Length"),
                                                   (str(10 ** 12), 413, "over")])
def test_a_bad_content_length_is_one_line(page_app, length, status, words):
    with serving(page_app) as port:
        head = ["POST /api/session HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
                "Connection: close"] + ([f"Content-Length: {length}"] if length is not None else [])
        got, error = one_line(raw(port, ("\n".join(head) + "\n").encode(), b"{}"))
        assert got == status and words in error
        the_page_still_works(port)


@pytest.mark.parametrize("body, words", [
    (b"\xff\xfe{}", "not UTF-8"), (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"{nope", "not JSON"), (b"[1, 2]", "a JSON object"),
    (b'{"session": "x", "index": NaN}', "not a number"), (b'{"index": Infinity}', "not a number"),
    (b'{"index": 1e400}', "out of range"), (b'{"seed": 123456789012345678901234567890}', "out of range"),
])
def test_malformed_json_is_one_line(page_app, body, words):
    with serving(page_app) as port:
        status, error = one_line(request(port, path="/api/face", body=body))
        assert status == 400 and words in error
        the_page_still_works(port)


def test_numbers_out_of_range_and_nan_strings_are_one_line(page_app):
    with serving(page_app) as port:
        session = call(port, "session")[1]["session"]
        assert call(port, "face", session=session, index=0)[0] == 200
        for route, fields, words in [
            ("face", {"index": 10 ** 15}, "index"), ("face", {"index": "1e400"}, "index"),
            ("face", {"index": 2.5}, "index"), ("face", {"index": True}, "index"),
            ("run", {"steps": 10 ** 15}, "steps"), ("run", {"every": 0}, "every"), ("run", {"seed": -1}, "seed -1"),
            ("mask", {"type": "center", "seed": 2 ** 40}, "seed"),
            ("keypoints", {"expression": {"smile": "NaN"}}, "smile"),
            ("keypoints", {"expression": {"eyes": "inf"}}, "eyes"), ("keypoints", {"expression": [1]}, "expression"),
            ("keypoints", {"base": [[0, 0]] * 67}, "68"),
        ]:
            status, answer = call(port, route, session=session, **fields)
            assert status == 400 and words in answer["error"] and "\n" not in answer["error"], (route, fields, answer)
        status, view = call(port, "keypoints", session=session)  # nothing of it reached the session
        assert status == 200 and np.isfinite(np.array(view["points"])).all()
        assert view["expression"] == {"smile": 0.0, "opening": 0.0, "eyes": 1.0}
        the_page_still_works(port)


def test_a_painted_mask_must_be_the_face_size(page_app):
    with serving(page_app) as port:
        session = call(port, "session")[1]["session"]
        call(port, "face", session=session, index=0)
        header = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (100_000).to_bytes(4, "big") * 2 + \
            bytes.fromhex("0806000000") + b"\0" * 4  # a 100000 x 100000 PNG's header, nothing after it
        for image in (header, png_bytes(Image.new("L", (64, 64), 255)), b"not a png"):
            status, answer = call(port, "paint", session=session, mask=data_url(image))
            assert status == 400 and "painted mask could not be read" in answer["error"], answer
        assert call(port, "paint", session=session, mask=data_url(png_bytes(Image.new("L", (32, 32), 0))))[0] == 200
        the_page_still_works(port)


def test_slow_bodies_and_too_many_connections_are_dropped(page_app):
    with serving(page_app, max_connections=4, header_seconds=1, body_seconds=1) as port:
        stalled = []
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                      "Content-Length: 100\r\n\r\n{".encode())  # 1 of 100 bytes, then nothing
            stalled.append(s)
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # a fifth while four are held
            assert s.recv(100).startswith(b"HTTP/1.0 503")
        started = time.monotonic()
        for s in stalled:
            s.settimeout(5)
            assert s.recv(100) == b""  # dropped, unanswered, once the body is late
            s.close()
        assert time.monotonic() - started < 4
        s = socket.create_connection(("127.0.0.1", port))  # a request line that never ends
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1")
        s.settimeout(5)
        assert s.recv(100) == b""  # dropped after the header timeout
        s.close()
        the_page_still_works(port)


def test_a_token_guards_every_request_when_given(page_app):
    token = webserver.new_token()
    with serving(page_app, token=token) as port:
        for path in ("/", "/app.js", f"/?token={token[:-1]}x"):
            status, error = one_line(request(port, "GET", path, content_type=None))
            assert status == 403 and "token" in error
        assert one_line(request(port))[0] == 403
        status, headers, _ = request(port, "GET", f"/?token={token}", content_type=None)
        assert status == 200 and f"{webserver.TOKEN_COOKIE}={token}" in headers["set-cookie"]
        assert "SameSite=Strict" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
        assert request(port, extra=[f"Cookie: {webserver.TOKEN_COOKIE}={token}"])[0] == 200  # the page's calls


def test_a_non_loopback_host_needs_the_token(tiny_model):
    """app.py on every interface prints who can reach it and a token address; without the
    token the page is refused."""
    process = subprocess.Popen([sys.executable, "app.py", "--checkpoint_dir", tiny_model[0], "--host", "0.0.0.0",
                                "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not lines or "inpainting page on" not in lines[-1]:
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert any("warning" in line and "anyone" in line for line in lines)
        address = lines[-1].split()[3]
        port, token = int(address.split(":")[2].split("/")[0]), address.split("?token=")[1]
        assert request(port, "GET", "/", content_type=None)[0] == 403
        assert request(port, "GET", f"/?token={token}", content_type=None)[0] == 200
    finally:
        process.terminate()
        process.wait(10)


def test_costs_are_bounded(page_app, monkeypatch):
    """Queued searches in all, concurrent uploads, and sessions by memory: each at its
    limit answers 503 or forgets the least recently used tab, whose search stops."""
    model = page_app.models[0]
    monkeypatch.setattr(webapp, "MAX_SEARCHES", 1)
    first = page_app.new_session()["session"]
    page_app.handle("face", {"session": first, "index": 0})
    page_app.handle("mask", {"session": first, "type": "center"})
    with model.lock:  # the model is busy: the first search waits in the queue
        assert page_app.handle("run", {"session": first, "steps": 3})[0] == 200
        second = page_app.new_session()["session"]
        page_app.handle("face", {"session": second, "index": 1})
        page_app.handle("mask", {"session": second, "type": "center"})
        status, answer = page_app.handle("run", {"session": second, "steps": 3})
        assert status == 503 and "queued" in answer["error"]
        run = page_app.session({"session": first}).run
        monkeypatch.setattr(webapp, "MAX_SESSION_BYTES", page_app.session({"session": second}).nbytes() + 1)
        page_app.new_session()  # over the memory bound: the least recently used tabs go
    for _ in range(100):
        if run["done"]:
            break
        time.sleep(0.05)
    assert run["stop"] and run["done"]  # the forgotten tab's search stopped
    status, answer = page_app.handle("progress", {"session": first})
    assert status == 400 and "unknown" in answer["error"]
    assert len(page_app.sessions) <= 2
    monkeypatch.setattr(webapp, "UPLOAD_WAIT_SECONDS", 0.1)
    session = page_app.new_session()["session"]
    for _ in range(webapp.UPLOAD_SLOTS):
        page_app.upload_slots.acquire()
    try:
        status, answer = page_app.handle("upload", {"session": session, "name": "a.png",
                                                    "data": data_url(png_bytes(Image.new("RGB", (64, 64))))})
        assert status == 503 and "a.png again" in answer["error"]
    finally:
        for _ in range(webapp.UPLOAD_SLOTS):
            page_app.upload_slots.release()
    closed = page_app.new_session()["session"]
    assert page_app.handle("close", {"session": closed}) == (200, {"closed": True})
    assert page_app.handle("progress", {"session": closed})[0] == 400


def test_the_largest_upload_decodes_within_its_memory_bound(tmp_path):
    """The costliest photo under the pixel budget (16-bit grayscale PNG, MAX_OTHER_PIXELS) is
    decoded in a fresh process within 12 bytes a pixel over its start (docs/app.md); one
    just over the budget is refused from its header, without decoding."""
    side = int(webapp.MAX_OTHER_PIXELS ** 0.5)
    path = tmp_path / "big16.png"
    Image.fromarray(np.full((side, side), 40_000, np.uint16)).save(path)
    script = ("import resource, sys; sys.path.insert(0, sys.argv[1]); from webpage import webapp; "
              "data = open(sys.argv[2], 'rb').read(); before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
              "photo = webapp.decode_upload(data, 'big16.png'); "
              "print(photo.shape[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)")
    out = subprocess.run([sys.executable, "-c", script, ROOT, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    assert int(out[0]) == webapp.MAX_PHOTO_SIDE
    assert int(out[1]) * 1024 < 12 * side * side, f"{int(out[1]) >> 10} MB for a {side}x{side} photo"
    over = png_bytes(Image.new("I;16", (side + 10, side + 10)))
    with pytest.raises(webapp.PageError, match="megapixels"):
        webapp.decode_upload(over, "over.png")


def test_downloads_name_no_server_path(page_app, tiny_model):
    session = page_app.new_session()["session"]
    page_app.handle("face", {"session": session, "index": 2})
    page_app.handle("mask", {"session": session, "type": "center"})
    assert page_app.handle("run", {"session": session, "steps": 2, "every": 2})[0] == 200
    for _ in range(400):
        if page_app.progress({"session": session})["done"]:
            break
        time.sleep(0.05)
    with zipfile.ZipFile(io.BytesIO(page_app.download({"session": session, "what": "settings"})[0])) as z:
        settings = z.read("settings.json").decode()
    assert os.path.dirname(os.path.abspath(tiny_model[0])) not in settings and '"/' not in settings
    assert webapp.shown_path(webapp.ROOT + "/models/celeba64/conditioned") == os.path.join("models", "celeba64",
                                                                                          "conditioned")
