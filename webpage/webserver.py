"""The inpainting page's HTTP layer: what a request must be before the page's handlers
(webapp.App) see it, after the practice of trusted local servers (Jupyter's Host check and
token, Django's ALLOWED_HOSTS and CSRF origin check, OWASP's advice on DNS rebinding).

- Host: only the names the server is bound to (127.0.0.1, localhost and [::1] with the
  port for a loopback address; the bound address otherwise). A page on a foreign origin
  whose DNS name was rebound to 127.0.0.1 sends its own name as Host and is refused.
- A non-loopback address also needs a random token, printed in the page's address and kept
  as a SameSite=Strict cookie once the page is opened with it; without it nothing is served.
- POSTs: an Origin header, when present, must be the server's own; the body must be
  `application/json` (a cross-site form or simple request cannot send that without a CORS
  preflight, which is never granted: no CORS headers at all); Content-Length must be a
  non-negative integer within MAX_BODY_BYTES; a body that has not arrived within
  BODY_SECONDS drops the connection; malformed, non-UTF-8 or absurdly nested JSON,
  NaN, infinities and overflowing numbers are one 400 line each.
- Every answer forbids framing (X-Frame-Options, CSP frame-ancestors) and sniffing, and
  sends no referrer (the token stays in this tab). At most MAX_CONNECTIONS requests are
  served at once; further connections get a 503 and are closed.
"""
import hmac
import ipaddress
import json
import math
import os
import secrets
import socket
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGES = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/app.css": ("app.css", "text/css; charset=utf-8")}
HEADER_SECONDS = 10      # a request line and headers must arrive within this
BODY_SECONDS = 20        # and the body within this (a 27 MB upload at 11 Mbit/s)
MAX_CONNECTIONS = 32     # requests served at once; one thread each
TOKEN_COOKIE = "inpaint_token"
MAX_INTEGER = 2 ** 53    # larger JSON integers are refused (no field of the page needs them)
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A request refused before any handler runs: (status, one line)."""

    def __init__(self, status, line):
        super().__init__(line)
        self.status = status


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host, port):
    """The Host header values this server answers, or None for any (bound to every address,
    where the token is the guard): loopback names with the port, else the bound address."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::", ""):
        return None
    if not is_loopback(host):
        names.add(f"[{host}]" if ":" in host else host)
    return {f"{name}:{port}" for name in names} | (names if port == 80 else set())


def _checked_int(text):
    value = int(text)
    if abs(value) > MAX_INTEGER:
        raise ValueError(f"the number {text[:20]}... is out of range")
    return value


def _checked_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not a number the page sends")


def parse_json(body):
    """The request object of a JSON body; ValueError with one line for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the request is not UTF-8 text")
    try:
        request = json.loads(text or "{}", parse_int=_checked_int, parse_float=_checked_float,
                             parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("the request is nested too deeply")
    except json.JSONDecodeError as error:
        raise ValueError(f"the request is not JSON ({error.msg} at character {error.pos})")
    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    return request


class PageServer(ThreadingHTTPServer):
    """A threaded server that answers at most MAX_CONNECTIONS requests at once."""
    daemon_threads = True

    def __init__(self, address, handler, max_connections=MAX_CONNECTIONS):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:  # answered before anything is read: the client learns it at once
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                                b"Content-Length: 39\r\nConnection: close\r\n\r\nthe server is busy: try again shortly\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def make_server(app, host="127.0.0.1", port=7860, token=None, *, max_body_bytes=None,
                max_connections=MAX_CONNECTIONS, header_seconds=HEADER_SECONDS, body_seconds=BODY_SECONDS):
    """A server for `app` (webapp.App): the page at /, its calls at POST /api/<call> (JSON),
    downloads at GET /api/download?session=..&what=... token: required of every request
    when given (make it with new_token for a non-loopback host). The limits default to the
    module's constants. The bound port is server.server_port (port 0: any free one)."""
    max_body = max_body_bytes or app.max_request_bytes

    class Handler(BaseHTTPRequestHandler):
        timeout = header_seconds  # the socket's: a stalled request line or header is dropped

        def log_message(self, *args):  # quiet: the page reports errors itself
            pass

        def send(self, status, body, content_type, filename=None, cookie=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            if filename:
                self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
            if cookie:
                self.send_header("Set-Cookie", f"{TOKEN_COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status, answer, cookie=None):
            try:
                body = json.dumps(answer, allow_nan=False).encode("utf-8")
            except ValueError as error:  # a NaN must never reach the browser's JSON.parse
                status, body = 500, json.dumps({"error": f"the server made an answer it cannot send ({error})"}).encode()
            self.send(status, body, "application/json", cookie=cookie)

        def guard(self, url):
            """Raises Refused unless Host (and the token, where needed) are right. Returns
            the cookie to set (the token, first seen in the address), or None."""
            hosts = server.allowed_hosts
            host = self.headers.get("Host", "")
            if hosts is not None and host not in hosts:
                raise Refused(403, f"this server answers only {sorted(hosts)[0]}, not Host {host[:80]!r}: open the "
                                   "address app.py printed")
            if token is None:
                return None
            given = parse_qs(url.query).get("token", [None])[0]
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            kept = cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else None
            for candidate in (given, kept):
                if candidate and hmac.compare_digest(candidate.encode(), token.encode()):
                    return candidate if candidate is given else None
            raise Refused(403, "this page needs its token: open the address with ?token= that app.py printed")

        def check_origin(self):
            origin = self.headers.get("Origin")
            if origin is None:
                return
            hosts = server.allowed_hosts
            own = {f"http://{h}" for h in hosts} if hosts is not None else {f"http://{self.headers.get('Host', '')}"}
            if origin not in own:
                raise Refused(403, f"a request from another site ({origin[:80]}) is refused: use the page itself")

        def read_body(self):
            kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise Refused(415, f"the page's calls are application/json, not {kind[:60] or 'untyped'}")
            length = self.headers.get("Content-Length")
            if length is None:
                raise Refused(411, "a request body needs a Content-Length")
            if not length.isdigit():  # "-1", "abc", "1e3", " 5"
                raise Refused(400, f"Content-Length {length[:20]!r} is not a byte count")
            length = int(length)
            if length > max_body:
                self.close_connection = True  # the body is not read
                raise Refused(413, f"the request is over {max_body >> 20} MB: use a smaller photo")
            deadline, chunks, left = time.monotonic() + body_seconds, [], length
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    raise ConnectionError("the body ended early")
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)

        def do_GET(self):
            url = urlparse(self.path)
            try:
                cookie = self.guard(url)
            except Refused as refused:
                return self.send_json(refused.status, {"error": str(refused)})
            if url.path in PAGES:
                name, kind = PAGES[url.path]
                with open(os.path.join(STATIC, name), "rb") as f:
                    return self.send(200, f.read(), kind, cookie=cookie)
            if url.path == "/api/download":
                request = {k: v[0] for k, v in parse_qs(url.query).items() if k != "token"}
                status, answer = app.download_answer(request)
                if status != 200:
                    return self.send_json(status, answer)
                body, kind, filename = answer
                return self.send(200, body, kind, filename)
            self.send_json(404, {"error": f"no page {url.path[:80]}"})

        def do_POST(self):
            url = urlparse(self.path)
            try:
                self.guard(url)
                self.check_origin()
                request = parse_json(self.read_body())
            except Refused as refused:
                return self.send_json(refused.status, {"error": str(refused)})
            except ValueError as error:
                return self.send_json(400, {"error": f"{error}: reload the page"})
            except (TimeoutError, socket.timeout, ConnectionError):
                self.close_connection = True  # a body that does not arrive in time is dropped, unanswered
                return
            self.send_json(*app.handle(url.path.removeprefix("/api/"), request))

        def do_PUT(self):
            self.send_json(405, {"error": "the page's calls are POST /api/<call>"})

        do_DELETE = do_PATCH = do_OPTIONS = do_PUT  # no CORS preflight is ever granted

    server = PageServer((host, port), Handler, max_connections)
    server.allowed_hosts = allowed_hosts(host, server.server_port)
    return server


def new_token():
    return secrets.token_urlsafe(24)
