"""The command line: exit codes, one-line errors, user management, migrations, SIGTERM."""
import os
import subprocess

from conftest import BIN, Client, Server, new_database


def cli(*args, stdin=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, env=e,
                          timeout=60)


def test_version_and_help():
    r = cli("version")
    assert r.returncode == 0 and r.stdout.startswith("pyroom ")
    assert cli("--help").returncode == 0
    r = cli("serve", "--help")
    assert r.returncode == 0 and "--max-body" in r.stdout and "PYROOM_MAX_BODY" in r.stdout


def test_bad_usage_exits_2_with_one_line(tmp_path):
    for args in (["frobnicate"], ["serve", "--bogus", "1"], ["serve", "--max-body", "lots"],
                 ["serve", "--registration", "maybe"], ["serve", "--listen", "nowhere"],
                 ["user", "add"], ["user", "set-role", "x", "emperor"]):
        r = cli(*args, env={"PYROOM_DATABASE": "sqlite:" + str(tmp_path / "db")})
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("pyroom"), (args, r.stderr)
    r = cli("serve", env={"PYROOM_MAX_BODY": "-1"})
    assert r.returncode == 2 and "PYROOM_MAX_BODY" in r.stderr


def test_user_add_set_role_and_migrate(tmp_path):
    db = new_database(str(tmp_path))
    r = cli("migrate", "--database", db)
    assert r.returncode == 0, r.stderr
    r = cli("user", "add", "carol", "--role", "reviewer", "--database", db,
            stdin="a long enough password\n")
    assert r.returncode == 0 and "reviewer" in r.stdout, r.stderr
    r = cli("user", "add", "carol", "--database", db, stdin="a long enough password\n")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = cli("user", "add", "dave", "--database", db, stdin="short\n")
    assert r.returncode == 2
    r = cli("user", "set-role", "carol", "admin", "--database", db)
    assert r.returncode == 0 and "admin" in r.stdout
    r = cli("user", "set-role", "nobody", "admin", "--database", db)
    assert r.returncode == 1 and "does not exist" in r.stderr
    srv = Server(database=db).start()
    try:
        c = Client(srv, username="carol", password="a long enough password", register=False)
        assert c.login().status_code == 200
        assert c.user["role"] == "admin"
    finally:
        assert srv.stop() == 0
