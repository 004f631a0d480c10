"""Names the mount refuses in jobs/: not UTF-8 (the journal could not keep
them, so a job would be billed and then forgotten), or holding a control
character (a newline would forge a row of the root `status`). Refused with
EINVAL at create and at rename, before anything is sent, leaving nothing
behind that a remount could send again."""

import errno
import os
import subprocess

import pytest

from util import Mount, read, write

NOT_UTF8 = b"caf\xe9"
FORGED = b"a\nfake  completed  100%  video_fake"
CONTROLS = [FORGED, b"tab\there", b"cr\rhere", b"esc\x1b[31mred", b"del\x7f", b"csi\xc2\x9bx"]


def jobs(mount, name=b""):
    return os.path.join(os.fsencode(mount.path("jobs")), name)


def expect_errno(code, func, *args):
    with pytest.raises(OSError) as e:
        func(*args)
    assert e.value.errno == code, os.strerror(e.value.errno)


def state_files(mount):
    return sorted(os.listdir(os.path.join(os.fsencode(mount.state), b"files")))


def refused_everywhere(mount, sim, stem):
    """Every way of making `stem` a name in jobs/ fails with EINVAL."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for name in (stem + b".txt", stem + b".json", stem + b".swp", stem):
        expect_errno(errno.EINVAL, os.open, jobs(mount, name), flags, 0o644)
        expect_errno(errno.EINVAL, os.open, jobs(mount, name), flags | os.O_EXCL, 0o644)
    # a save by rename, as editors and rsync do, and a rename of a scratch file
    write(mount.path("jobs", "draft.tmp"), "a prompt saved by rename")
    expect_errno(errno.EINVAL, os.rename, jobs(mount, b"draft.tmp"), jobs(mount, stem + b".txt"))
    expect_errno(errno.EINVAL, os.rename, jobs(mount, b"draft.tmp"), jobs(mount, stem + b".bak"))
    assert read(mount.path("jobs", "draft.tmp")) == "a prompt saved by rename"
    os.unlink(mount.path("jobs", "draft.tmp"))
    # mv of a job directory
    expect_errno(errno.EINVAL, os.rename, jobs(mount, b"good"), jobs(mount, stem))
    assert os.path.isdir(mount.path("jobs", "good"))


@pytest.mark.parametrize("stem", [NOT_UTF8] + CONTROLS,
                         ids=["not-utf8", "newline", "tab", "cr", "esc", "del", "c1"])
def test_name_is_refused_before_anything_is_sent(tmp_path, sim, stem):
    m = Mount(tmp_path, sim.url, "poll=0.2")
    try:
        write(m.path("jobs", "good.txt"), "a good prompt")
        assert sim.requests()["create"] == 1
        refused_everywhere(m, sim, stem)
        assert sim.requests()["create"] == 1
        assert sorted(os.listdir(jobs(m))) == [b"good", b"good.txt"]
        assert state_files(m) == [b"good.txt"]
        # the shell's way, as a user types it
        r = subprocess.run(["bash", "-c", 'echo x > "$1"', "-", jobs(m, stem + b".txt")],
                           stderr=subprocess.PIPE)
        assert r.returncode != 0
        assert b"Invalid argument" in r.stderr
        status = read(m.path("status")).splitlines()
        assert len(status) == 2 and status[1].startswith("good ")
        assert all(line.startswith("{") for line in read(m.path("events")).splitlines())
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()

    # Nothing is left that a remount would show or send again.
    m = Mount(tmp_path, sim.url, "poll=0.2", state_dir=m.state)
    try:
        assert sorted(os.listdir(jobs(m))) == [b"good", b"good.txt"]
        assert state_files(m) == [b"good.txt"]
        assert sim.requests()["create"] == 1
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()


def test_unicode_names_are_kept(mount, sim):
    # what is refused is only what the journal cannot keep or a line cannot hold
    name = "café ☕ 日本"
    write(mount.path("jobs", name + ".txt"), "a coffee")
    assert sim.requests()["create"] == 1
    os.rename(mount.path("jobs", name), mount.path("jobs", name + " 2"))
    assert read(mount.path("jobs", name + " 2", "status")).split()[0] in (
        "queued", "in_progress", "completed")
    assert read(mount.path("status")).splitlines()[1].startswith(name + " 2 ")
