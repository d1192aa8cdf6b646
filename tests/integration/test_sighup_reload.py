"""Issue 13, item 2: SIGHUP re-reads the YAML file. Cameras added, changed and removed there
are applied as database changes are; a bad file is kept out (the running configuration
stays, one line says why); settings that need a restart are said to."""
import os
import signal
import time

SMALL = "test://?width=320&height=240&fps=10"
WIDE = "test://?width=640&height=360&fps=10"


def cfg_path(srv):
    return srv.args[srv.args.index("--config") + 1]


def write_cfg(srv, body, listen='listen: "127.0.0.1:0"\n'):
    with open(cfg_path(srv), "w") as f:
        f.write(listen + body)


def ids(srv):
    return sorted(c["id"] for c in srv.get("/api/v1/cameras").json()["cameras"])


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_sighup_applies_camera_changes_and_keeps_a_bad_file_out(tmp_path, vigil_server):
    db = str(tmp_path / "r.db")
    srv = vigil_server(config="cameras:\n  - id: a\n    url: \"%s\"\n  - id: b\n    url: \"%s\"\n"
                       % (SMALL, SMALL), extra_args=["--db", db])
    assert ids(srv) == ["a", "b"]

    # b changed, a removed, c added.
    write_cfg(srv, "cameras:\n  - id: b\n    url: \"%s\"\n  - id: c\n    url: \"%s\"\n"
              % (WIDE, SMALL))
    os.kill(srv.pid, signal.SIGHUP)
    assert wait_for(lambda: ids(srv) == ["b", "c"]), (ids(srv), srv.log_tail())
    assert wait_for(lambda: "width=640" in srv.get("/api/v1/streams/b").json()["url"]), \
        srv.log_tail()
    assert "applied" in srv.log

    # A bad file: nothing changes, one line says where and why.
    write_cfg(srv, "cameras:\n  - id: b\n    url: \"%s\"\n  - id: d\n    url: ftp://h/x\n"
              % SMALL)
    os.kill(srv.pid, signal.SIGHUP)
    want = "%s:6: cameras[1].url: scheme 'ftp' is not supported" % cfg_path(srv)
    assert wait_for(lambda: want in srv.log), srv.log_tail()
    line = [l for l in srv.log.splitlines() if want in l]
    assert len(line) == 1 and "the configuration running is kept" in line[0], line
    assert "Backtrace" not in srv.log
    time.sleep(0.5)
    assert ids(srv) == ["b", "c"]
    assert "width=640" in srv.get("/api/v1/streams/b").json()["url"]
    assert srv.alive()

    # A setting that cannot change while running is said to need a restart.
    write_cfg(srv, "cameras:\n  - id: b\n    url: \"%s\"\n" % WIDE, listen='listen: "127.0.0.1:1"\n')
    os.kill(srv.pid, signal.SIGHUP)
    assert wait_for(lambda: "needs a restart" in srv.log and ids(srv) == ["b"]), srv.log_tail()
    assert "listen port changed from 0 to 1: needs a restart" in srv.log
