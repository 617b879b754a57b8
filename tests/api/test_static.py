"""The page's static files: pre-compressed siblings (name.br, name.gz, written by
web/build.mjs) sent to clients that take them, with Content-Encoding, Vary and an ETag that
names the coding; 304 for a matching If-None-Match; a sibling older than its file is not
used. Each test serves its own small web directory (--web-dir)."""
import gzip
import http.client
import os
import time
import urllib.parse

import pytest

from conftest import Server

JS = b"console.log('hello from the page');\n" * 40


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    d = tmp_path_factory.mktemp("web")
    (d / "index.html").write_bytes(b"<!doctype html><title>pyroom</title>\n" * 10)
    (d / "app-ABCDEFGH.js").write_bytes(JS)
    (d / "app-ABCDEFGH.js.br").write_bytes(b"BROTLI BODY")  # marker bytes: which file was sent
    (d / "app-ABCDEFGH.js.gz").write_bytes(gzip.compress(JS))
    (d / "logo-ABCDEFGH.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    # A sibling left from an older build: older than its file, so never sent.
    (d / "index.html.gz").write_bytes(b"STALE")
    old = time.time() - 3600
    os.utime(d / "index.html.gz", (old, old))
    srv = Server(extra=["--web-dir", str(d)]).start()
    yield srv
    srv.stop()


def get(srv, path, **headers):
    u = urllib.parse.urlsplit(srv.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def test_brotli_then_gzip_then_identity(web):
    r, body = get(web, "/app-ABCDEFGH.js", **{"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert r.status == 200 and body == b"BROTLI BODY"
    assert r.getheader("Content-Encoding") == "br"
    assert r.getheader("Vary") == "Accept-Encoding"
    assert r.getheader("Content-Type").startswith("text/javascript")
    assert "immutable" in r.getheader("Cache-Control")
    assert r.getheader("ETag").endswith('-br"')
    r, body = get(web, "/app-ABCDEFGH.js", **{"Accept-Encoding": "gzip, deflate"})
    assert r.getheader("Content-Encoding") == "gzip" and gzip.decompress(body) == JS
    assert r.getheader("ETag").endswith('-gzip"')
    r, body = get(web, "/app-ABCDEFGH.js", **{"Accept-Encoding": "br;q=0, gzip;q=0.5"})
    assert r.getheader("Content-Encoding") == "gzip"
    r, body = get(web, "/app-ABCDEFGH.js")
    assert body == JS and r.getheader("Content-Encoding") is None
    assert r.getheader("Vary") == "Accept-Encoding"
    r, body = get(web, "/app-ABCDEFGH.js", **{"Accept-Encoding": "br;q=2, gzip;q=x, identity"})
    assert body == JS and r.getheader("Content-Encoding") is None


def test_etag_revalidation_per_coding(web):
    r, _ = get(web, "/index.html", **{"Accept-Encoding": "br"})
    tag = r.getheader("ETag")
    assert r.status == 200 and tag and r.getheader("Cache-Control") == "no-cache"
    r, body = get(web, "/index.html", **{"Accept-Encoding": "br", "If-None-Match": tag})
    assert r.status == 304 and body == b"" and r.getheader("ETag") == tag
    r, body = get(web, "/app-ABCDEFGH.js", **{"Accept-Encoding": "br"})
    br_tag = r.getheader("ETag")
    # The gzip body is another representation: the brotli one's tag does not match it.
    r, body = get(web, "/app-ABCDEFGH.js", **{"Accept-Encoding": "gzip", "If-None-Match": br_tag})
    assert r.status == 200 and gzip.decompress(body) == JS
    # A client-side route answers index.html, revalidated the same way.
    r, body = get(web, "/w/12", **{"If-None-Match": f'W/"x", {tag.replace("-br", "")}'})
    assert r.status == 304


def test_stale_sibling_and_binary_types(web):
    r, body = get(web, "/index.html", **{"Accept-Encoding": "gzip"})
    assert r.status == 200 and body.startswith(b"<!doctype html>")
    assert r.getheader("Content-Encoding") is None
    r, body = get(web, "/logo-ABCDEFGH.png", **{"Accept-Encoding": "gzip, br"})
    assert r.status == 200 and body.startswith(b"\x89PNG")
    assert r.getheader("Vary") is None and r.getheader("Content-Encoding") is None
    # The siblings themselves are never a way out of the directory or into other names.
    r, _ = get(web, "/..%2fetc%2fpasswd", **{"Accept-Encoding": "br"})
    assert r.status == 404 and r.getheader("Content-Encoding") is None
