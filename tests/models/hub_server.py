"""A stand-in for the Hugging Face hub on 127.0.0.1: serves a folder in the hub's URL layout.

``GET/HEAD /{org}/{repo}/resolve/{revision}/{path}`` answers with the headers huggingface_hub reads
(``X-Repo-Commit``, ``ETag``, ``Content-Length``); ``/files/{path}`` serves plain URL downloads.
Every request is counted, so tests can prove a cached or offline load made none.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _file(self) -> Path | None:
                server.requests.append(f"{self.command} {self.path}")
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) >= 5 and parts[2] == "resolve":
                    rel = Path(parts[0], parts[1], *parts[4:])
                elif parts[0] == "files":
                    rel = Path(*parts[1:])
                else:
                    return None
                p = server.root / rel
                return p if p.is_file() else None

            def _headers(self, p: Path) -> None:
                data = p.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.end_headers()

            def do_HEAD(self):
                p = self._file()
                if p is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                else:
                    self._headers(p)

            def do_GET(self):
                p = self._file()
                if p is None:
                    self.send_error(404)
                else:
                    self._headers(p)
                    self.wfile.write(p.read_bytes())

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
