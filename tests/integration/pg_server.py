"""A real PostgreSQL server for tests (issue 18): Debian's postgresql, `initdb` and `pg_ctl` in
a temporary directory, run as `nobody` (PostgreSQL refuses root), listening on 127.0.0.1 at a
free port with its socket in that directory. Trust authentication: it listens on loopback
only, and it lives as long as the test module.

    with PgServer() as pg:
        pg.url            # postgresql://vigil@127.0.0.1:PORT/vigil
        pg.psql("SELECT 1")
"""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time


def pg_bin_dir():
    """Debian's newest installed server, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, user="nobody"):
        self.bin = pg_bin_dir()
        if self.bin is None:
            raise RuntimeError("no PostgreSQL server (apt-get install postgresql)")
        self.user = user
        self.dir = tempfile.mkdtemp(prefix="vigil-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.url = "postgresql://vigil@127.0.0.1:%d/vigil" % self.port

    def _as_user(self, args, **kw):
        cmd = " ".join("'%s'" % a.replace("'", "'\\''") for a in args)
        if os.geteuid() != 0:
            return subprocess.run(args, **kw)
        return subprocess.run(["su", self.user, "-s", "/bin/sh", "-c", cmd], **kw)

    def _ctl(self, *args):
        return self._as_user([os.path.join(self.bin, "pg_ctl"), "-D", self.data] + list(args),
                             check=True, capture_output=True, timeout=90)

    def pause(self):
        """Stops the server, keeping its data (as a failover or a restart would)."""
        self._ctl("-m", "fast", "-w", "-t", "30", "stop")

    def resume(self):
        self._ctl("-o", self.opts, "-l", os.path.join(self.dir, "log"), "-w", "-t", "60", "start")

    def start(self):
        shutil.chown(self.dir, user=self.user)
        self._as_user([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "vigil",
                       "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"],
                      check=True, capture_output=True, timeout=120)
        self.opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
                     "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
                     "-c max_connections=200" % (self.port, self.dir))
        self.resume()
        self.psql("CREATE DATABASE vigil", db="postgres")
        return self

    def psql(self, sql, db="vigil"):
        """Runs sql with psql as vigil; returns its output (unaligned, tuples only)."""
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", "vigil", "-d", db, "-c",
                            sql], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError("psql %r: %s" % (sql, p.stderr))
        return p.stdout.strip()

    def log(self):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._as_user([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate",
                           "-w", "-t", "30", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def pg_fixture():
    """The module-scoped `pg` fixture of the tests that need a server (tests/integration
    conftest.py); skips, saying why, where none is installed."""
    import pytest
    if pg_bin_dir() is None:
        pytest.skip("no PostgreSQL server installed (scripts/install-deps.sh --test installs "
                    "postgresql)")
    with PgServer() as server:
        yield server
