"""A fake of craigslist's Bulk Posting Interface: a real HTTP server on loopback.

It speaks the documented protocol (FACTS.md section 5, fixtures in shared/platforms/fixtures/
craigslist): ``POST /bulk-rss/validate`` and ``POST /bulk-rss/post`` take an RSS 1.0/RDF document
(as ``application/xml``/``text/xml`` or, like older clients, as a raw
``application/x-www-form-urlencoded`` body) and answer with one ``item`` per posting. It loads the
category and area codes from the shared fixtures, records every posting it publishes, and can
inject faults: a status code for the next requests, or a delay after recording a post.

Standalone, for manual end-to-end demos::

    python plugins/craigslist/tests/fake_craigslist.py --port 8081 --username u --password p --account-id 14
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import itertools
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
import yaml

from cashout_server.testing.loopback import ThreadedHTTPFake

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared/platforms/fixtures/craigslist"

NS_RSS = "http://purl.org/rss/1.0/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_CL = "http://www.craigslist.org/about/cl-bulk-ns/1.0"

ACCEPTED_TYPES = ("application/xml", "text/xml", "application/x-www-form-urlencoded")

# FACTS marks per-item failure statuses [U]: craigslist documents VALID and POSTED only. The fake
# answers "INVALID" with an explanation for a posting it refuses; that exact value is an assumption.
INVALID = "INVALID"


@functools.cache
def _load_yaml(name: str) -> Any:
    # BaseLoader keeps every scalar a string: "off" (office & commercial) is a category, not False.
    with (FIXTURES / name).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader only builds strings, lists, dicts


def load_categories() -> set[str]:
    """Category codes the bulk interface accepts (categories.yml)."""
    return {code for group in _load_yaml("categories.yml").values() for code in group}


def load_areas() -> dict[str, set[str]]:
    """Area codes to their subarea codes (areas.yml)."""
    return {area: {sub for sub in info if sub != "desc"} for area, info in _load_yaml("areas.yml").items()}


@dataclass(frozen=True)
class Account:
    """A bulk posting account the fake accepts."""

    username: str
    password: str
    account_id: str


@dataclass
class Request:
    """One request the fake received."""

    path: str
    content_type: str
    body: bytes


@dataclass
class Post:
    """One posting the fake published."""

    posting_id: str
    key: str
    fields: dict[str, str]
    images: list[bytes]
    manage_url: str


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: str | None
    body: str
    path: str | None


@dataclass
class FakeCraigslist(ThreadedHTTPFake):
    """The fake's state and knobs; :meth:`start` serves it on ``127.0.0.1``.

    Attributes:
        accounts: the bulk accounts it accepts.
        post_delay: seconds ``/bulk-rss/post`` waits AFTER recording a posting and before answering.
        warnings: ``cl:warning`` texts added to every POSTED item.
        view_urls: whether POSTED items carry a ``cl:postingViewURL``.
        requests: every request received (tests count validate and post calls with it).
        posts: every posting published.
        categories: category codes accepted (categories.yml); tests may shrink it.
        areas: area codes to subarea codes (areas.yml); tests may shrink it.
    """

    accounts: list[Account] = field(default_factory=lambda: [Account("bulkuser@example.com", "s3cret", "14")])
    post_delay: float = 0.0
    warnings: list[str] = field(default_factory=list)
    view_urls: bool = True
    requests: list[Request] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    categories: set[str] = field(default_factory=load_categories)
    areas: dict[str, set[str]] = field(default_factory=load_areas)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(159144091))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- control --------------------------------------------------------------------------

    thread_name = "fake-craigslist"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler of this fake."""
        return _Handler

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: str | None = None,
        body: str = "",
        path: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (to ``path``, or to any path) with ``status`` and ``body``."""
        with self._lock:
            self._faults.append(_Fault(status, count, retry_after, body or f"fake failure {status}", path))

    def paths(self) -> list[str]:
        """Paths of every request received, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    # --- protocol -------------------------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path in (None, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def _check_auth(self, channel: Element | None) -> str | None:
        auth = channel.find(f"{{{NS_CL}}}auth") if channel is not None else None
        attrs: Mapping[str, str] = auth.attrib if auth is not None else {}
        username, password, account_id = (attrs.get(k, "") for k in ("username", "password", "accountID"))
        if not username:
            return "Must supply username"
        if not password:
            return "Must supply password"
        if not account_id:
            return "AccountID required"
        # The wording of the bad-credentials answer is not documented [U].
        if Account(username, password, account_id) not in self.accounts:
            return "Invalid username or password"
        return None

    def _problems(self, item: Element) -> list[str]:
        def text(tag: str, ns: str = NS_CL) -> str:
            child = item.find(f"{{{ns}}}{tag}")
            return (child.text or "").strip() if child is not None else ""

        problems = []
        title = text("title", NS_RSS)
        if not title:
            problems.append("Missing title.")
        elif len(title) > 70:
            problems.append("Posting title is too long (70 characters maximum).")
        if not text("description", NS_RSS):
            problems.append("Missing description.")
        category, area, subarea = text("category"), text("area"), text("subarea")
        if category not in self.categories:
            problems.append(f"Invalid category '{category}'.")
        if area not in self.areas:
            problems.append(f"Invalid area '{area}'.")
        elif subarea and subarea not in self.areas[area]:
            problems.append(f"Invalid subarea '{subarea}' for area '{area}'.")
        reply = item.find(f"{{{NS_CL}}}replyEmail")
        if reply is None or "@" not in (reply.text or ""):
            problems.append("Missing or invalid replyEmail.")
        elif reply.get("privacy") not in ("A", "C", "P"):
            problems.append("Invalid replyEmail privacy.")
        images = item.findall(f"{{{NS_CL}}}image")
        if len(images) > 24:
            problems.append("Too many images (24 maximum).")
        for image in images:
            if image.get("position") not in {str(n) for n in range(24)}:
                problems.append("Invalid image position.")
            try:
                base64.b64decode(image.text or "", validate=True)
            except binascii.Error:
                problems.append("Image is not valid base64.")
        return problems

    def handle(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        """Answer one request: status, headers, body, and whether a posting was recorded."""
        with self._lock:
            self.requests.append(Request(path, content_type, body))
        plain = {"Content-Type": "text/plain; charset=utf-8"}
        if path not in ("/bulk-rss/validate", "/bulk-rss/post"):
            return 404, plain, b"Not Found", False
        fault = self._take_fault(path)
        if fault is not None:
            headers = dict(plain)
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            return fault.status, headers, fault.body.encode(), False
        if content_type.split(";")[0].strip().lower() not in ACCEPTED_TYPES:
            return 415, plain, f"Failed to parse RSS: unsupported content type {content_type!r}".encode(), False
        try:
            root = SafeET.fromstring(body)
        except (ParseError, ValueError) as exc:
            return 415, plain, f"Failed to parse RSS: {exc}".encode(), False
        if root.tag != f"{{{NS_RDF}}}RDF":
            return 415, plain, b"Failed to parse RSS: root element is not rdf:RDF", False
        denied = self._check_auth(root.find(f"{{{NS_RSS}}}channel"))
        if denied:
            return 403, plain, denied.encode(), False

        posting = path.endswith("/post")
        answers: list[tuple[str, str]] = []
        posted = False
        for item in root.findall(f"{{{NS_RSS}}}item"):
            key = item.get(f"{{{NS_RDF}}}about", "")
            problems = self._problems(item)
            if problems:
                answers.append((key, _item(key, INVALID, " ".join(problems))))
            elif not posting:
                answers.append((key, _item(key, "VALID", "This posting seems to be valid.")))
            else:
                answers.append((key, self._publish(key, item)))
                posted = True
        return 200, {"Content-Type": "application/rss+xml; charset=utf-8"}, _rss(answers), posted

    def _publish(self, key: str, item: Element) -> str:
        fields = {
            child.tag.split("}")[1]: (child.text or "").strip() for child in item if child.tag.split("}")[1] != "image"
        }
        images = [
            base64.b64decode(image.text or "")
            for image in sorted(item.findall(f"{{{NS_CL}}}image"), key=lambda e: int(e.get("position", "0")))
        ]
        with self._lock:
            posting_id = str(next(self._ids))
            manage = f"https://post.craigslist.org/manage/{posting_id}/{secrets.token_hex(3)[:5]}"
            self.posts.append(Post(posting_id, key, fields, images, manage))
        parts = [
            f"  <item rdf:about={quoteattr(key)}>",
            "    <cl:postedStatus>POSTED</cl:postedStatus>",
            "    <cl:postedExplanation>Successfully enqueued posting.</cl:postedExplanation>",
            f"    <cl:postingID>{posting_id}</cl:postingID>",
            # Real answers may wrap URLs in whitespace and newlines; clients must strip them.
            f"    <cl:postingManageURL>\n      {escape(manage)}\n    </cl:postingManageURL>",
        ]
        if self.view_urls:
            view = f"https://{fields.get('area', 'www')}.craigslist.org/{fields.get('category', '')}/{posting_id}.html"
            parts.append(f"    <cl:postingViewURL>\n      {escape(view)}\n    </cl:postingViewURL>")
        parts += [f"    <cl:warning>{escape(w)}</cl:warning>" for w in self.warnings]
        parts += [_PREVIEW, "  </item>"]
        return "\n".join(parts)

    def wait_after_post(self) -> None:
        """Sleep ``post_delay`` (cut short by :meth:`stop`)."""
        if self.post_delay > 0:
            self._stopping.wait(self.post_delay)


_PREVIEW = "    <cl:previewHTML><![CDATA[\n      HTML preview of posting will appear here.\n    ]]></cl:previewHTML>"


def _item(key: str, status: str, explanation: str) -> str:
    return "\n".join(
        [
            f"  <item rdf:about={quoteattr(key)}>",
            f"    <cl:postedStatus>{status}</cl:postedStatus>",
            f"    <cl:postedExplanation>{escape(explanation)}</cl:postedExplanation>",
            _PREVIEW,
            "  </item>",
        ]
    )


def _rss(answers: list[tuple[str, str]]) -> bytes:
    # Shaped like sample_response_validation.xml.
    lis = "\n".join(f"        <rdf:li rdf:resource={quoteattr(key)}/>" for key, _ in answers)
    return (
        f"<rdf:RDF xmlns={quoteattr(NS_RSS)}\n         xmlns:rdf={quoteattr(NS_RDF)}\n"
        f"         xmlns:cl={quoteattr(NS_CL)}>\n"
        f"  <channel>\n    <items>\n      <rdf:Seq>\n{lis}\n      </rdf:Seq>\n    </items>\n  </channel>\n"
        + "\n".join(xml for _, xml in answers)
        + "\n</rdf:RDF>\n"
    ).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no keep-alive socket outlives a test.
    fake: FakeCraigslist

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        status, headers, payload, posted = self.fake.handle(self.path, self.headers.get("Content-Type", ""), body)
        if posted:
            self.fake.wait_after_post()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.fake.handle(self.path, "", b"")
        payload = b"Not Found"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    """Run the fake until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--username", default="bulkuser@example.com")
    parser.add_argument("--password", default="s3cret")
    parser.add_argument("--account-id", default="14")
    args = parser.parse_args(argv)
    fake = FakeCraigslist(accounts=[Account(args.username, args.password, args.account_id)])
    fake.start(args.host, args.port)
    print(f"fake craigslist bulk posting interface at {fake.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        print(f"stopped; {len(fake.posts)} posting(s) published", flush=True)


if __name__ == "__main__":
    main()
