"""Where a running mount's messages go (videofs(1), DIAGNOSTICS): stderr
with -f, syslog in the background.

The message used is the one lib/ logs when the server answers a ranged
GET with the whole file: a runtime event that is not an error of any
request, logged at g_message level, and made at will with the
simulator's no_ranges fault.
"""

import os
import re
import socket
import subprocess

import pytest

from util import adopt_orphans, fusermount_u, read, wait_exit, wait_for, write
from test_startup import base_opts, daemon_pids, mountpoint, run_videofs

IGNORES_RANGE = "the server ignores Range; fetching it whole"
LOG_DAEMON_NOTICE = (3 << 3) | 5


def read_from(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def make_message(m, sim, name):
    """A finished job whose bytes are fetched only now, by a read from the
    middle: a ranged GET, which the fault answers with the whole file."""
    write(m.path("jobs", f"{name}.txt"), "logged")
    ident = read(m.path("jobs", name, "id")).strip()
    wait_for(lambda: read(m.path("jobs", name, "status")).startswith("completed"),
             what=f"{name} to be completed")
    sim.fault("no_ranges")
    offset = 40000
    assert read_from(m.path("jobs", name, "video.mp4"), offset, 4096) == \
        sim.truth(ident)[offset:offset + 4096]
    return ident


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_foreground_message_on_stderr(tmp_path, sim, mount):
    """With -f the message is on stderr, once, and it is not a warning: the
    daemon runs with G_DEBUG=fatal-warnings and carries on."""
    make_message(mount, sim, "fg")
    lines = [l for l in mount.stderr().splitlines() if IGNORES_RANGE in l]
    assert len(lines) == 1, mount.stderr()
    assert lines[0].startswith("videofs-Message: "), lines[0]
    assert os.path.ismount(mount.mnt)


@pytest.fixture
def syslog():
    """A syslog socket at /dev/log for the test, as a syslog daemon or
    journald would have; only where there is none and we may make one."""
    if os.path.lexists("/dev/log"):
        pytest.skip("/dev/log exists: its messages are not ours to read")
    if os.geteuid() != 0:
        pytest.skip("making /dev/log needs root")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("/dev/log")
    s.settimeout(0.1)
    try:
        yield s
    finally:
        s.close()
        os.unlink("/dev/log")


def received(sock):
    out = []
    while True:
        try:
            out.append(sock.recv(65536).decode(errors="replace"))
        except socket.timeout:
            return out


@pytest.fixture
def adopted():
    adopt_orphans()
    yield
    adopt_orphans(False)


def test_background_messages_go_to_syslog(tmp_path, sim, syslog, adopted):
    """In the background stderr is /dev/null: the message goes to syslog as
    videofs[PID] at daemon.notice, and the daemon keeps serving."""
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, [mnt, "-o", base_opts(tmp_path, sim.url) + ",poll=0.2,prefetch=no"])
    try:
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        pids = daemon_pids(mnt)
        assert len(pids) == 1, pids

        class Background:
            def path(self, *parts):
                return os.path.join(mnt, *parts)

        make_message(Background(), sim, "bg")
        pattern = re.compile(rf"^<{LOG_DAEMON_NOTICE}>.* videofs\[{pids[0]}\]: (.*)$")
        got = []

        def logged():
            got.extend(received(syslog))
            return [m.group(1) for m in map(pattern.match, got) if m]

        ours = wait_for(lambda: [t for t in logged() if IGNORES_RANGE in t],
                        timeout=10, what="the message in syslog")
        assert len(ours) == 1, got
        assert ours[0].endswith(": " + IGNORES_RANGE), ours[0]
        # still serving
        assert read(os.path.join(mnt, "jobs", "bg", "status")).startswith("completed")
    finally:
        fusermount_u(mnt)
    assert not os.path.ismount(mnt)
    assert wait_exit(pids[0]) == 0
