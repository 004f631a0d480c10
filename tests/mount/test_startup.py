"""Mounting (contract sections 1 and 4): options, the token, start-up errors, survival."""

import errno
import json
import os
import signal
import stat
import subprocess

import pytest

from util import (VALGRIND, VIDEOFS, Mount, Sim, adopt_orphans, cleanup, daemon_env, fusermount_u,
                  read, wait_exit, wait_for, wait_state, write)


def run_videofs(tmp_path, args, token="test-token", env=None, timeout=30):
    """Runs videofs the way a person does (no -f); start-up errors come back
    before it goes to the background."""
    e = daemon_env(tmp_path, token)
    if env:
        e.update(env)
    return subprocess.run([VIDEOFS, *args], env=e, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def mountpoint(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    return str(mnt)


def one_line(result):
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("videofs: "), lines[0]
    return lines[0]


def refused(result, mnt):
    """one_line() of a start-up that must fail; a mount made anyway is taken
    down, so that a failing test leaves no daemon behind."""
    try:
        return one_line(result)
    finally:
        if os.path.ismount(mnt):
            subprocess.call(["fusermount3", "-u", mnt])


def base_opts(tmp_path, url):
    return f"endpoint={url},state_dir={tmp_path}/state,cache_dir={tmp_path}/cache"


def test_version_and_help(tmp_path):
    r = run_videofs(tmp_path, ["-V"])
    assert r.returncode == 0
    assert r.stdout.startswith("videofs version ")
    assert "FUSE library version" in r.stdout
    r = run_videofs(tmp_path, ["-h"])
    assert r.returncode == 0
    for key in ("endpoint=", "token_file=", "poll=", "state_dir=", "cache_dir=", "prefetch=",
                "cache_max=", "ark_endpoint=", "delete_remote=", "-f", "-d", "-s"):
        assert key in r.stdout, key


def test_no_token(tmp_path, sim):
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, ["-o", base_opts(tmp_path, sim.url), mnt], token=None)
    assert "no token" in one_line(r)
    assert not os.path.ismount(mnt)


@pytest.mark.parametrize("option, words", [
    ("nosuchoption", "unknown option"),
    ("poll=abc", "poll=abc"),
    ("poll=0", "poll=0"),
    ("seconds=four", "seconds=four"),
    ("size=big", "size=big"),
    ("seconds=0", "seconds=0: want a whole number from 1 to 60"),
    ("seconds=999", "seconds=999: want a whole number from 1 to 60"),
    ("size=0x0", "size=0x0: want WIDTHxHEIGHT"),
    ("size=1280x0", "size=1280x0: want WIDTHxHEIGHT"),
    ("model=", "model=: want a model name"),
    ("prefetch=maybe", "prefetch=maybe"),
    ("cache_max=lots", "cache_max=lots"),
    ("endpoint=ftp://example.com/v1", "videofs: "),
    ("endpoint=http://example.com/v1", "videofs: "),
])
def test_bad_option(tmp_path, sim, option, words):
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, ["-o", base_opts(tmp_path, sim.url) + "," + option, mnt])
    assert words in refused(r, mnt)
    assert not os.path.ismount(mnt)
    assert sim.api_total() == 0


@pytest.mark.parametrize("line, words", [
    ("seconds=61", "seconds=61: want a whole number from 1 to 60"),
    ("size=100001x720", "size=100001x720: want WIDTHxHEIGHT"),
])
def test_bad_default_in_config_file(tmp_path, sim, line, words):
    """The config file's job defaults meet the checks front matter makes,
    before anything is mounted or sent."""
    conf = tmp_path / "config" / "videofs"
    conf.mkdir(parents=True)
    (conf / "config").write_text(f"[videofs]\n{line}\n")
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, ["-o", base_opts(tmp_path, sim.url), mnt])
    assert words in refused(r, mnt)
    assert not os.path.ismount(mnt)
    assert sim.api_total() == 0


def test_bad_mount_point(tmp_path, sim):
    r = run_videofs(tmp_path, ["-o", base_opts(tmp_path, sim.url), str(tmp_path / "absent")])
    assert "mount point" in one_line(r)


def test_token_file_readable_by_others_is_refused(tmp_path, sim):
    tf = tmp_path / "token"
    tf.write_text("secret-token\n")
    os.chmod(tf, 0o644)
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, ["-o", base_opts(tmp_path, sim.url) + f",token_file={tf}", mnt],
                    token=None)
    line = one_line(r)
    assert "chmod 600" in line and "secret-token" not in line
    assert sim.api_total() == 0


@pytest.mark.sim(token="file-token")
def test_token_file(tmp_path, sim):
    tf = tmp_path / "token"
    tf.write_text("file-token\n")
    os.chmod(tf, 0o600)
    m = Mount(tmp_path, sim.url, f"poll=0.2,token_file={tf}", token="wrong-env-token")
    try:
        write(m.path("jobs", "t.txt"), "token from the file")
        assert read(m.path("jobs", "t", "id")).startswith("video_")
        assert sim.stats()["unauthorized"] == 0
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()


@pytest.mark.sim(token="right-token")
def test_refused_token_ends_the_mount(tmp_path, sim):
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, ["-o", base_opts(tmp_path, sim.url), mnt], token="wrong-token")
    line = one_line(r)
    assert line.startswith("videofs: the API refused the token (HTTP 401)")
    assert "wrong-token" not in r.stderr
    assert not os.path.ismount(mnt)


@pytest.mark.sim(token="env-token")
def test_openai_api_key_is_the_fallback(tmp_path, sim):
    m = Mount(tmp_path, sim.url, "poll=0.2", token=None, env={"OPENAI_API_KEY": "env-token"})
    try:
        write(m.path("jobs", "k.txt"), "key from OPENAI_API_KEY")
        assert read(m.path("jobs", "k", "id")).startswith("video_")
        # the token is not left in the daemon's environment or its state
        environ = open(f"/proc/{m.proc.pid}/environ", "rb").read()
        assert VALGRIND or b"env-token" not in environ
        cmdline = open(f"/proc/{m.proc.pid}/cmdline", "rb").read()
        assert b"env-token" not in cmdline
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()
    for root, _, files in os.walk(tmp_path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert b"env-token" not in fh.read(), f


def test_unreachable_api_mounts_anyway(tmp_path):
    s = Sim()
    url = s.url
    s.stop()
    m = Mount(tmp_path, url, "poll=0.2")
    try:
        assert sorted(os.listdir(m.mnt)) == ["README.txt", "events", "images", "jobs", "status", "videos"]
        fd = os.open(m.path("jobs", "o.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"nobody listens")
        with pytest.raises(OSError) as e:
            os.close(fd)
        assert e.value.errno == errno.EIO
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    warnings = [l for l in m.stderr().splitlines() if l.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("videofs: warning: ")


def test_second_mount_on_the_same_state_dir(tmp_path, sim, mount):
    other = tmp_path / "other"
    other.mkdir()
    mnt2 = mountpoint(other)
    r = run_videofs(other, ["-o", f"endpoint={sim.url},state_dir={mount.state},"
                                  f"cache_dir={other}/cache", mnt2])
    line = one_line(r)
    assert "in use by another videofs" in line
    assert f"(pid {mount.proc.pid})" in line
    assert not os.path.ismount(mnt2)


@pytest.fixture
def adopted():
    """Background daemons become children of the test, for wait_exit()."""
    adopt_orphans()
    yield
    adopt_orphans(False)


def test_background_mount_and_fstab_form(tmp_path, sim, adopted):
    """Without -f it goes to the background; mount.fuse3 passes a source
    argument first, which is ignored.  Unmounted, the daemon exits 0: no
    thread it needs was started before fuse_daemonize() forked."""
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, ["videofs", mnt, "-o", base_opts(tmp_path, sim.url)
                               + ",poll=0.2,nofail,_netdev,x-systemd.automount"])
    try:
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert os.path.ismount(mnt)
        pids = daemon_pids(mnt)
        assert len(pids) == 1, pids
        write(os.path.join(mnt, "jobs", "bg.txt"), "in the background")
        ident = read(os.path.join(mnt, "jobs", "bg", "id")).strip()
        assert ident.startswith("video_")
        status = os.path.join(mnt, "jobs", "bg", "status")
        wait_for(lambda: read(status).startswith("completed"), what="bg to be completed")
        assert read(os.path.join(mnt, "jobs", "bg", "video.mp4"), "rb") == sim.truth(ident)
    finally:
        fusermount_u(mnt)
    assert not os.path.ismount(mnt)
    assert wait_exit(pids[0]) == 0


def daemon_pids(mnt):
    """Pids of the videofs processes serving mnt, from /proc (not the child
    each keeps for inotify announcements, vf-announcer, whose parent is the
    daemon)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"videofs" and mnt.encode() in argv:
            found[int(entry)] = parent
    return sorted(pid for pid, parent in found.items() if parent not in found)


def test_second_mount_names_the_background_daemon(tmp_path, sim, adopted):
    """The lock names the process that went to the background, not the one
    that was started and has exited."""
    mnt = mountpoint(tmp_path)
    r = run_videofs(tmp_path, [mnt, "-o", base_opts(tmp_path, sim.url) + ",poll=0.2"])
    try:
        assert r.returncode == 0, r.stderr
        pids = daemon_pids(mnt)
        assert len(pids) == 1, pids
        other = tmp_path / "other"
        other.mkdir()
        mnt2 = mountpoint(other)
        r2 = run_videofs(other, ["-o", f"endpoint={sim.url},state_dir={tmp_path}/state,"
                                       f"cache_dir={other}/cache", mnt2])
        line = one_line(r2)
        assert f"in use by another videofs (pid {pids[0]})" in line
        assert not os.path.ismount(mnt2)
    finally:
        fusermount_u(mnt)
    assert not os.path.ismount(mnt)
    assert wait_exit(pids[0]) == 0


def test_config_file_and_command_line_wins(tmp_path, sim):
    conf = tmp_path / "config" / "videofs"
    conf.mkdir(parents=True)
    (conf / "config").write_text("[videofs]\nmodel=sora-2-pro\nseconds=12\nsize=1x1\n")
    m = Mount(tmp_path, sim.url, "poll=0.2,size=1280x720")
    try:
        write(m.path("jobs", "cfg.txt"), "configured")
        sent = json.loads(read(m.path("jobs", "cfg", "request.json")))
        assert sent["model"] == "sora-2-pro" and sent["seconds"] == "12"
        assert sent["size"] == "1280x720"
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()
    (conf / "config").write_text("[videofs]\ntoken=abc\n")
    r = run_videofs(tmp_path, ["-o", base_opts(tmp_path, sim.url), mountpoint(tmp_path)])
    assert "unknown key 'token'" in one_line(r)


def test_default_dirs_follow_xdg(tmp_path, sim):
    m = Mount(tmp_path, sim.url, "poll=0.2", start=False)
    m.args[2] = f"endpoint={sim.url},poll=0.2"
    m.start()
    try:
        write(m.path("jobs", "x.txt"), "where is it kept")
        port = sim.url.split(":")[2].split("/")[0]
        slug = f"127.0.0.1_{port}_v1"
        assert os.path.isdir(tmp_path / "xdg-state" / "videofs" / slug / "files")
        assert os.path.isdir(tmp_path / "xdg-cache" / "videofs" / slug)
        assert stat.S_IMODE(os.stat(tmp_path / "xdg-state" / "videofs" / slug).st_mode) == 0o700
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()


@pytest.mark.sim("--queue", "1", "--duration", "2")
def test_kill_9_and_remount(tmp_path, sim):
    m = Mount(tmp_path, sim.url, "poll=0.2")
    try:
        write(m.path("jobs", "survivor.txt"), "outlives its mount")
        write(m.path("jobs", "drafty.txt"), "")
        ident = read(m.path("jobs", "survivor", "id")).strip()
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait()
    finally:
        cleanup(m.proc, m.mnt)
        m.err.close()
    assert m.proc.returncode == -signal.SIGKILL, m.stderr()
    m.start()
    try:
        assert read(m.path("jobs", "survivor", "id")).strip() == ident
        assert os.path.exists(m.path("jobs", "drafty.txt"))
        assert stat.S_IMODE(os.stat(m.path("jobs", "survivor.txt")).st_mode) == 0o444
        wait_state(m, "survivor", "completed")
        assert read(m.path("jobs", "survivor", "video.mp4"), "rb") == sim.truth(ident)
        assert sim.requests()["create"] == 1
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()


def test_single_threaded_and_debug(tmp_path, sim):
    m = Mount(tmp_path, sim.url, "poll=0.2", start=False, token="debug-token")
    m.args[0:0] = ["-s", "-d"]
    m.start()
    try:
        write(m.path("jobs", "dbg.txt"), "debugging")
        wait_state(m, "dbg", "completed")
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    assert "debug-token" not in m.stderr()
    assert "submitted dbg.txt" in m.stderr()
