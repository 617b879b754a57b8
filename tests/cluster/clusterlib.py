"""A cluster on loopback for tests and benchmarks: a PostgreSQL database (scripts/pg.sh's
cluster at PYROOM_TEST_PG), N pyroom nodes and Debian's nginx running deploy/nginx.conf.

nginx runs with its own prefix directory (config, pid, logs and temp paths), in the
foreground as our child; deploy/nginx.conf is used as shipped, with only its TLS lines
replaced by a loopback listen and its upstream servers by our nodes. mode "hash" keeps the
file's `hash $pyroom_workspace`; mode "rr" removes it (plain round-robin, what a Kubernetes
Service does).
"""
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))

from conftest import Client, Server, free_port, error_code  # noqa: E402,F401
from test_terminals import Events, Term, wait_for  # noqa: E402,F401

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NODE_TIMEOUT = 6  # seconds: --node-timeout of the test nodes


def new_pg_database():
    base = os.environ.get("PYROOM_TEST_PG")
    if not base:
        raise RuntimeError("PYROOM_TEST_PG is not set (scripts/pg.sh start)")
    name = "pyroom_cluster_" + secrets.token_hex(6)
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True)
    u = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def nginx_config(prefix, port, nodes, mode):
    with open(os.path.join(ROOT, "deploy", "nginx.conf")) as f:
        site = f.read()
    site = re.sub(r"\n\s*ssl_[^\n]*", "", site)
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
    servers = "".join(f"    server 127.0.0.1:{n.port} max_fails=1 fail_timeout=5s;\n"
                      for n in nodes)
    site, k = re.subn(r"(upstream pyroom \{\n(?:.*\n)*?)(    server [^\n]*\n(?:    # server[^\n]*\n)?)",
                      lambda m: m.group(1) + servers, site, count=1)
    assert k == 1, "deploy/nginx.conf: upstream servers not found"
    if mode == "rr":
        site, k = re.subn(r"\n    hash \$pyroom_workspace consistent;", "", site)
        assert k == 1, "deploy/nginx.conf: hash line not found"
    t = os.path.join(prefix, "tmp")
    return f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
{site}
}}
"""


class Nginx:
    def __init__(self, nodes, mode="hash"):
        self.prefix = tempfile.mkdtemp(prefix="pyroom-nginx-")
        os.makedirs(os.path.join(self.prefix, "tmp"))
        os.chmod(self.prefix, 0o755)
        self.mode = mode
        self.nodes = nodes
        self.proc = None

    def start(self):
        for _ in range(5):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            conf = os.path.join(self.prefix, "nginx.conf")
            with open(conf, "w") as f:
                f.write(nginx_config(self.prefix, self.port, self.nodes, self.mode))
            self.proc = subprocess.Popen([NGINX, "-p", self.prefix, "-c", conf, "-e",
                                          os.path.join(self.prefix, "error.log"),
                                          "-g", "daemon off;"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            end = time.monotonic() + 10
            import socket
            while time.monotonic() < end and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError("nginx did not start: " + self.log())

    def log(self):
        try:
            with open(os.path.join(self.prefix, "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Cluster:
    """N nodes on one new PostgreSQL database, optionally behind nginx."""

    def __init__(self, n=3, extra=(), nginx=None):
        self.database = new_pg_database()
        # No warm pool: three of them would take a loaded 2-core machine for a while.
        self.extra = ["--node-timeout", str(NODE_TIMEOUT), "--warm-pool", "false"] + list(extra)
        self.nodes = [Server(database=self.database, extra=self.extra) for _ in range(n)]
        self.nginx_mode = nginx
        self.nginx = None

    def start(self):
        for n in self.nodes:
            n.start()
        if self.nginx_mode:
            self.nginx = Nginx(self.nodes, self.nginx_mode).start()
        return self

    def stop(self):
        if self.nginx:
            self.nginx.stop()
        rcs = [n.stop() for n in self.nodes]
        return rcs

    def psql(self, sql):
        out = subprocess.run(["psql", self.database, "-At", "-c", sql], check=True,
                             capture_output=True, text=True)
        return out.stdout.strip()


def on(client, server):
    """The same logged-in user, talking to another node (or nginx): shares the session."""
    other = Client.__new__(Client)
    other.__dict__.update(client.__dict__)
    other.server = server
    return other
