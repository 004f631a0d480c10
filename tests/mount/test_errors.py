"""The errno table of contract section 3, each row asserted."""

import errno
import os
import re
import stat
import subprocess

import pytest

from util import TOP, read, write


def creates(sim):
    return sim.requests()["create"]


def status(mount, name):
    return read(mount.path("jobs", name, "status"))


def error_text(mount, name):
    return read(mount.path("jobs", name, "error"))


def open_w(mount, name):
    return os.open(mount.path("jobs", name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def expect_errno(code, func, *args):
    with pytest.raises(OSError) as e:
        func(*args)
    assert e.value.errno == code, os.strerror(e.value.errno)


def test_nul_byte_fails_write(mount, sim):
    fd = open_w(mount, "nul.txt")
    expect_errno(errno.EINVAL, os.write, fd, b"a cat\0and a dog")
    expect_errno(errno.EINVAL, os.close, fd)
    assert status(mount, "nul").startswith("rejected")
    assert "NUL" in error_text(mount, "nul") or "nul" in error_text(mount, "nul").lower()
    assert creates(sim) == 0


def test_invalid_utf8_fails_write(mount, sim):
    fd = open_w(mount, "latin1.txt")
    expect_errno(errno.EINVAL, os.write, fd, "café au lait".encode("latin-1"))
    expect_errno(errno.EINVAL, os.close, fd)
    assert status(mount, "latin1").startswith("rejected")
    assert "UTF-8" in error_text(mount, "latin1")
    assert creates(sim) == 0


def test_sequence_cut_at_the_end_fails_close(mount, sim):
    fd = open_w(mount, "trail.txt")
    assert os.write(fd, b"caf\xc3") == 4  # may continue in the next write
    expect_errno(errno.EINVAL, os.close, fd)
    assert status(mount, "trail").startswith("rejected")
    assert creates(sim) == 0


def test_sequence_cut_between_writes_waits(mount, sim):
    data = "café au lait".encode()
    cut = data.index(b"\xc3") + 1
    fd = open_w(mount, "cut.txt")
    assert os.write(fd, data[:cut]) == cut
    assert os.write(fd, data[cut:]) == len(data) - cut
    os.close(fd)
    assert creates(sim) == 1
    assert status(mount, "cut").split()[0] in ("queued", "in_progress", "completed")


def test_shell_redirect_reports_the_write_error(mount, sim):
    import subprocess
    r = subprocess.run(["bash", "-c", r'printf "a\0b" > "$1"', "-", mount.path("jobs", "sh.txt")],
                       stderr=subprocess.PIPE, text=True)
    assert r.returncode != 0
    assert "Invalid argument" in r.stderr
    assert status(mount, "sh").startswith("rejected")
    assert creates(sim) == 0


def test_too_large_fails_write(mount, sim):
    fd = open_w(mount, "big.txt")
    assert os.write(fd, b"x" * 32768) == 32768
    expect_errno(errno.EFBIG, os.write, fd, b"y")
    expect_errno(errno.EFBIG, os.close, fd)
    assert status(mount, "big").startswith("rejected")
    assert creates(sim) == 0
    fd = open_w(mount, "big2.txt")
    expect_errno(errno.EFBIG, os.write, fd, b"z" * 40000)
    expect_errno(errno.EFBIG, os.close, fd)
    assert creates(sim) == 0


def test_truncate_past_the_limit_is_efbig(mount, sim):
    p = mount.path("jobs", "grow.txt")
    write(p, "")  # a draft
    expect_errno(errno.EFBIG, os.truncate, p, 10 << 30)
    expect_errno(errno.EFBIG, os.truncate, p, 32769)
    assert os.stat(p).st_size == 0
    os.truncate(p, 32768)  # the limit itself is a size a prompt may have
    assert os.stat(p).st_size == 32768
    os.truncate(p, 0)
    fd = os.open(p, os.O_WRONLY)
    expect_errno(errno.EFBIG, os.ftruncate, fd, 10 << 30)
    os.write(fd, b"a short prompt")
    os.close(fd)  # sends what was written, not a sparse 10 GB
    assert creates(sim) == 1
    assert read(p) == "a short prompt"
    # the shell's way, on a file that does not exist yet
    q = mount.path("jobs", "huge.txt")
    r = subprocess.run(["truncate", "-s", "10G", q], stderr=subprocess.PIPE, text=True)
    assert r.returncode != 0
    assert "File too large" in r.stderr
    assert os.stat(q).st_size == 0
    assert max(os.stat(os.path.join(mount.state, "files", f)).st_size
               for f in os.listdir(os.path.join(mount.state, "files"))) <= 32768
    # a scratch file is not a prompt: it may have any size
    write(mount.path("jobs", "scratch.bin"), "")
    os.truncate(mount.path("jobs", "scratch.bin"), 1 << 20)
    assert os.stat(mount.path("jobs", "scratch.bin")).st_size == 1 << 20
    assert creates(sim) == 1


def test_bad_front_matter_fails_close(mount, sim):
    fd = open_w(mount, "fm.txt")
    os.write(fd, b"---\nseconds: eight\n---\na slow zoom\n")
    expect_errno(errno.EINVAL, os.close, fd)
    assert status(mount, "fm").startswith("rejected")
    assert "seconds" in error_text(mount, "fm")
    assert creates(sim) == 0


def test_bad_json_fails_close(mount, sim):
    fd = open_w(mount, "bad.json")
    os.write(fd, b'{"prompt": "unterminated')
    expect_errno(errno.EINVAL, os.close, fd)
    assert status(mount, "bad").startswith("rejected")
    assert creates(sim) == 0


def test_api_400_rejects_then_fixed_prompt_goes(mount, sim):
    p = mount.path("jobs", "mod.txt")
    fd = open_w(mount, "mod.txt")
    os.write(fd, b"something #reject able\n")
    expect_errno(errno.EINVAL, os.close, fd)
    assert creates(sim) == 1
    assert status(mount, "mod").startswith("rejected moderation_blocked")
    assert "moderation_blocked" in error_text(mount, "mod")
    # the prompt stays writable: fix it and save again
    assert stat.S_IMODE(os.stat(p).st_mode) & 0o200
    write(p, "something acceptable\n")
    assert creates(sim) == 2
    assert status(mount, "mod").split()[0] in ("queued", "in_progress", "completed")
    assert not os.path.exists(mount.path("jobs", "mod", "error"))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o444


def test_rate_limited_is_eagain(mount, sim):
    sim.fault("429:call=create,count=1,retry_after=1")
    fd = open_w(mount, "busy.txt")
    os.write(fd, b"try later")
    expect_errno(errno.EAGAIN, os.close, fd)
    assert creates(sim) == 1
    assert status(mount, "busy").startswith("rejected")
    # later it goes
    write(mount.path("jobs", "busy.txt"), "try later")
    assert creates(sim) == 2
    assert status(mount, "busy").split()[0] in ("queued", "in_progress", "completed")


def test_server_error_is_eio_and_unknown(mount, sim):
    # a 5xx answer to a create may hide a job that was made: it is
    # `unknown`, never sent again on its own
    sim.fault("5xx:call=create,count=1,status=502")
    fd = open_w(mount, "lost.txt")
    os.write(fd, b"did it go")
    expect_errno(errno.EIO, os.close, fd)
    assert creates(sim) == 1
    assert status(mount, "lost").split()[0] == "unknown"


def test_unreachable_api_is_eio(mount, sim):
    sim.stop()
    fd = open_w(mount, "offline.txt")
    os.write(fd, b"nobody there")
    expect_errno(errno.EIO, os.close, fd)
    assert status(mount, "offline").startswith("rejected")


def test_resave_after_success_is_eacces(mount, sim):
    write(mount.path("jobs", "done.txt"), "first take")
    expect_errno(errno.EACCES, os.open, mount.path("jobs", "done.txt"), os.O_WRONLY)
    expect_errno(errno.EACCES, os.truncate, mount.path("jobs", "done.txt"), 0)
    assert creates(sim) == 1


def test_other_prompt_file_of_a_job_is_ebusy(mount, sim):
    # stem.txt is the job `stem`: stem.json would be a second job of that name
    write(mount.path("jobs", "stem.txt"), "the first take")
    ident = read(mount.path("jobs", "stem", "id"))
    fd = open_w(mount, "stem.json")
    os.write(fd, b'{"prompt": "another take"}')
    expect_errno(errno.EBUSY, os.close, fd)
    write(mount.path("jobs", "stem.tmp"), '{"prompt": "another take"}')
    expect_errno(errno.EBUSY, os.rename, mount.path("jobs", "stem.tmp"),
                 mount.path("jobs", "stem.json"))
    assert creates(sim) == 1
    assert read(mount.path("jobs", "stem", "id")) == ident
    assert "the first take" in read(mount.path("jobs", "stem", "request.json"))


def test_every_errno_asserted_here_is_in_the_table():
    man = read(os.path.join(TOP, "man", "videofs.rst"))
    table = man.split("\nERRORS\n", 1)[1].split("\nOPTIONS\n", 1)[0]
    listed = set(re.findall(r"\*\*(E[A-Z]+)\*\*", table))
    asserted = set(re.findall(r"expect_errno\(errno\.(E[A-Z]+)", read(__file__)))
    assert asserted - listed == set()
