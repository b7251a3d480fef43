"""The playground's web server: Python's standard library, bound to 127.0.0.1, nothing fetched from elsewhere.

The page (``static/``: HTML, CSS, JavaScript, all shipped in the package) talks to a small JSON API:

    POST /api/sessions                     {"query": {...}} -> a new run (each tab has its own)
    POST /api/sessions/<id>/reset          {"query": {...}} -> the run restarted with new settings
    POST /api/sessions/<id>/step           {"epochs": n} or {"budget_ms": t} -> trains, then a snapshot
    GET  /api/sessions/<id>/snapshot?since=N
    GET  /api/sessions/<id>/trace?sample=i&split=train   -> chainrule.explain.trace of one sample
    GET  /api/sessions/<id>/parameters     the weights now, at full precision
    POST /api/sessions/<id>/close          the tab went away (a run nobody asks about expires anyway)

A bad parameter is answered with 400 and ``{"error": ..., "parameter": ...}``, which the page shows.
Every response forbids the page to load anything from another origin (Content-Security-Policy), and
requests must name this server as their Host (so another web site cannot reach it by DNS tricks).
"""
import json
import os
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .config import OPTIONS, ConfigError, from_query
from .session import Session

__all__ = ["make_server", "serve", "SessionStore", "STATIC_DIR"]

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".woff2": "font/woff2"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
MAX_BODY = 64 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATIC_NAME = re.compile(r"^[a-z0-9_-]+\.(html|js|css|svg|woff2)$")
SESSION_PATH = re.compile(r"^/api/sessions/([A-Za-z0-9_-]{8,64})/(reset|step|snapshot|trace|parameters|close)$")


class ApiError(Exception):
    def __init__(self, status, message, parameter=None):
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter


class SessionStore:
    """The runs of every open tab; a run nobody has asked about for ``idle_s`` seconds is dropped."""

    def __init__(self, max_sessions=32, idle_s=3600):
        self.max_sessions, self.idle_s = max_sessions, idle_s
        self._sessions = {}
        self._lock = threading.Lock()

    def create(self, config):
        session = Session(config)
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._expire()
            while len(self._sessions) >= self.max_sessions:       # the least recently used goes first
                oldest = min(self._sessions, key=lambda k: self._sessions[k].last_used)
                del self._sessions[oldest]
            self._sessions[key] = session
        return key, session

    def get(self, key):
        with self._lock:
            self._expire()
            session = self._sessions.get(key)
        if session is None:
            raise ApiError(404, "this run has expired or the server restarted; the page starts a new one")
        return session

    def replace(self, key, session):
        with self._lock:
            if key not in self._sessions:
                raise ApiError(404, "this run has expired or the server restarted; the page starts a new one")
            self._sessions[key] = session

    def close(self, key):
        with self._lock:
            self._sessions.pop(key, None)

    def __len__(self):
        with self._lock:
            return len(self._sessions)

    def _expire(self):
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if now - s.last_used > self.idle_s]:
            del self._sessions[key]


def _config(body):
    try:
        return from_query(body.get("query", {}))
    except ConfigError as e:
        raise ApiError(400, str(e), e.parameter) from None


def _int(params, name, default=None, low=0, high=10 ** 9):
    text = params.get(name, [None])[0]
    if text is None:
        if default is None:
            raise ApiError(400, f"{name}: missing", name)
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer, got {text!r}", name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: must be {low} to {high}, got {value}", name)
    return value


class Handler(BaseHTTPRequestHandler):
    server_version = "chainrule-playground"
    sessions = None          # set by make_server
    allowed_hosts = ()       # the Host headers that name this server (None: any, when not on loopback)
    quiet = True

    # ----- plumbing ----------------------------------------------------------------------------------------
    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)

    def _send(self, status, body, content_type, cache=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "max-age=60" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, obj):
        self._send(status, json.dumps(obj, allow_nan=False).encode("utf-8"), "application/json")

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(413, f"request body of {length} bytes is larger than {MAX_BODY}")
        if not length:
            return {}
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def _host_ok(self):
        return self.allowed_hosts is None or self.headers.get("Host", "") in self.allowed_hosts

    def _dispatch(self, method):
        if not self._host_ok():
            return self._json(403, {"error": "unknown Host header: open the address the server printed"})
        url = urlsplit(self.path)
        try:
            if method in ("GET", "HEAD") and not url.path.startswith("/api/"):
                return self._static(url.path)
            self._api(method, url.path, parse_qs(url.query))
        except ApiError as e:
            self._json(e.status, {"error": e.message, "parameter": e.parameter})
        except (BrokenPipeError, ConnectionResetError):
            pass                                                  # the tab closed while we answered

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    # ----- files ------------------------------------------------------------------------------------------
    def _static(self, path):
        if path in ("/", "/index.html"):
            name = "index.html"
        elif path == "/favicon.ico":
            name = "favicon.svg"
        elif path.startswith("/static/"):
            name = path[len("/static/"):]
        else:
            name = None
        if name is None or not STATIC_NAME.match(name) or not os.path.isfile(os.path.join(STATIC_DIR, name)):
            return self._json(404, {"error": f"no such page: {path}"})
        with open(os.path.join(STATIC_DIR, name), "rb") as f:
            data = f.read()
        self._send(200, data, CONTENT_TYPES[os.path.splitext(name)[1]], cache=False)

    # ----- the API ----------------------------------------------------------------------------------------
    def _api(self, method, path, params):
        if path == "/api/options" and method == "GET":
            return self._json(200, OPTIONS)
        if path == "/api/sessions" and method == "POST":
            config = _config(self._body())
            key, session = self.sessions.create(config)
            return self._json(200, {"session": key, **session.describe(), "snapshot": session.snapshot()})
        m = SESSION_PATH.match(path)
        if not m:
            raise ApiError(404, f"no such API: {method} {path}")
        key, action = m.groups()
        expected = "GET" if action in ("snapshot", "trace", "parameters") else "POST"
        if method != expected:
            raise ApiError(405, f"{action} needs {expected}, not {method}")
        if action == "close":
            self.sessions.close(key)
            return self._json(200, {"closed": key})
        if action == "reset":
            config = _config(self._body())
            self.sessions.get(key)
            session = Session(config)
            self.sessions.replace(key, session)
            return self._json(200, {"session": key, **session.describe(), "snapshot": session.snapshot()})
        session = self.sessions.get(key)
        if action == "step":
            body = self._body()
            epochs, budget = body.get("epochs"), body.get("budget_ms")
            if epochs is not None and (not isinstance(epochs, int) or not 1 <= epochs <= 5000):
                raise ApiError(400, f"epochs: must be 1 to 5000, got {epochs!r}", "epochs")
            if budget is not None and (not isinstance(budget, (int, float)) or not 0 <= budget <= 2000):
                raise ApiError(400, f"budget_ms: must be 0 to 2000, got {budget!r}", "budget_ms")
            session.step(epochs=epochs, budget_ms=budget if epochs is None else None)
            return self._json(200, session.snapshot(since=int(body.get("since") or 0)))
        if action == "snapshot":
            return self._json(200, session.snapshot(since=_int(params, "since", 0)))
        if action == "parameters":
            return self._json(200, session.parameters())
        split = params.get("split", ["train"])[0]
        try:
            return self._json(200, session.trace(_int(params, "sample"), split))
        except ValueError as e:
            raise ApiError(400, str(e), "sample") from None


def make_server(host="127.0.0.1", port=8765, quiet=True):
    """A ThreadingHTTPServer for the playground (not yet serving); ``port=0`` picks a free port."""
    store = SessionStore()
    handler = type("PlaygroundHandler", (Handler,), {"sessions": store, "quiet": quiet})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    actual = server.server_address[1]
    if host in LOOPBACK:
        handler.allowed_hosts = {f"{name}:{actual}" for name in ("127.0.0.1", "localhost", "[::1]")}
    else:
        handler.allowed_hosts = None         # --host chose another address: any name for it will do
    server.url = f"http://{'127.0.0.1' if host in ('127.0.0.1', 'localhost') else host}:{actual}/"
    return server


def serve(host="127.0.0.1", port=8765, open_browser=False, quiet=True, ready=None):
    """Serve the playground until interrupted; ``ready(url)`` is called once it is listening."""
    server = make_server(host, port, quiet)
    try:
        if ready is not None:
            ready(server.url)
        if open_browser:
            import webbrowser
            webbrowser.open(server.url)
        server.serve_forever()
    finally:
        server.server_close()
