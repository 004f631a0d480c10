"""Watching (contract section 6): live files, copies of them, tail -f, poll()."""

import json
import os
import select
import shutil
import subprocess
import threading
import time

import pytest

from util import read, wait_for, wait_state, write


def job_id(mount, name):
    return wait_for(lambda: os.path.exists(mount.path("jobs", name, "id"))
                    and read(mount.path("jobs", name, "id")).strip(), what="id")


@pytest.mark.sim("--queue", "0.6", "--duration", "2")
def test_status_moves_queued_in_progress_completed(mount, sim):
    write(mount.path("jobs", "moves.txt"), "a slow pan over a harbour")
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        s = read(mount.path("jobs", "moves", "status"))
        assert s.endswith("\n") and s.count("\n") == 1
        if not seen or seen[-1] != s:
            seen.append(s)
        if s.startswith("completed"):
            break
        time.sleep(0.05)
    words = [s.split()[0] for s in seen]
    collapsed = [w for i, w in enumerate(words) if i == 0 or words[i - 1] != w]
    assert collapsed == ["queued", "in_progress", "completed"], seen
    percents = [int(s.split()[1].rstrip("%")) for s in seen if s.startswith("in_progress")]
    assert percents == sorted(percents)
    assert any(0 < p < 100 for p in percents), seen


def copies(path):
    """What each tool makes of a file, read back-to-back."""
    out = {}
    dst = path + ".copy"
    tmp = "/tmp/videofs-test-copy-%d" % os.getpid()
    shutil.copyfile(path, tmp)
    out["shutil.copyfile"] = read(tmp, "rb")
    subprocess.check_call(["cp", path, tmp])
    out["cp"] = read(tmp, "rb")
    os.unlink(tmp)
    out["cat"] = subprocess.check_output(["cat", path])
    out["less"] = subprocess.check_output(["less", path], env=dict(os.environ, LESS="", LESSOPEN=""))
    with open(path, "rb") as f:
        out["read"] = f.read()
    del dst
    return out


@pytest.mark.sim("--queue", "300")
def test_tools_copy_exactly_the_current_content(mount, sim):
    write(mount.path("jobs", "held.txt"), "it stays queued")
    write(mount.path("jobs", "bad.txt"), "this one #fail s")
    ident = job_id(mount, "held")
    bad = job_id(mount, "bad")
    sim.complete(bad)
    wait_state(mount, "bad", "failed")
    files = [mount.path("status"), mount.path("events"),
             mount.path("jobs", "held", "status"), mount.path("jobs", "held", "status.json"),
             mount.path("jobs", "bad", "status"), mount.path("jobs", "bad", "error")]
    for p in files:
        got = copies(p)
        want = got["read"]
        assert want, p
        assert os.stat(p).st_size == len(want), p
        for tool, data in got.items():
            assert data == want, (p, tool)
    assert read(mount.path("jobs", "held", "status")) == "queued\n"
    assert read(mount.path("jobs", "bad", "status")).startswith("failed moderation_blocked")
    assert "moderation_blocked" in read(mount.path("jobs", "bad", "error"))

    # the same files after a change: never a stale page
    with open(mount.path("jobs", "held", "status"), "rb") as held:
        assert held.read() == b"queued\n"
        sim.complete(ident)
        wait_state(mount, "held", "completed")
        assert os.pread(held.fileno(), 4096, 0) == b"completed\n"
    for p in files:
        got = copies(p)
        for tool, data in got.items():
            assert data == got["read"], (p, tool)
    assert json.loads(read(mount.path("jobs", "held", "status.json")))["status"] == "completed"


@pytest.mark.sim("--queue", "0.5", "--duration", "2")
def test_tail_follows_events(mount, sim):
    tail = subprocess.Popen(["tail", "-n", "+1", "-f", mount.path("events")],
                            stdout=subprocess.PIPE)
    try:
        write(mount.path("jobs", "tailed.txt"), "followed by tail")
        states = []
        buf = b""
        printed = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "completed" not in states:
            ready, _, _ = select.select([tail.stdout], [], [], 1)
            if ready:
                chunk = os.read(tail.stdout.fileno(), 65536)
                printed += chunk
                buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                event = json.loads(line)
                if event["job"] == "tailed":
                    states.append(event["state"])
        assert states[0] == "queued" and states[-1] == "completed", states
        assert "in_progress" in states
        # what tail printed is the log exactly as it is (it may have grown since)
        assert read(mount.path("events"), "rb").startswith(printed)
    finally:
        tail.kill()
        tail.wait()


@pytest.mark.sim("--queue", "300")
def test_poll_wakes_on_change(mount, sim):
    write(mount.path("jobs", "polled.txt"), "wake me")
    ident = job_id(mount, "polled")
    files = {name: os.open(mount.path(*name.split("/")), os.O_RDONLY)
             for name in ("jobs/polled/status", "status", "events")}
    try:
        p = select.poll()
        for fd in files.values():
            os.read(fd, 65536)
            p.register(fd, select.POLLIN)
        assert p.poll(300) == []  # nothing changed yet
        t0 = time.monotonic()
        sim.complete(ident)
        woken = set()
        while len(woken) < len(files) and time.monotonic() - t0 < 10:
            for fd, ev in p.poll(10000):
                assert ev & select.POLLIN
                woken.add(fd)
                p.unregister(fd)
        assert woken == set(files.values())
        assert time.monotonic() - t0 < 5
        assert os.pread(files["jobs/polled/status"], 100, 0) == b"completed\n"
        # select() works the same way
        fd = files["jobs/polled/status"]
        r, _, _ = select.select([fd], [], [], 0.3)
        assert r == []
    finally:
        for fd in files.values():
            os.close(fd)


def test_readers_cause_no_requests(mount, sim):
    write(mount.path("jobs", "quiet.txt"), "read by many")
    wait_state(mount, "quiet", "completed")
    wait_for(lambda: sim.stats()["content_bytes"] >= 65536, what="prefetch")
    time.sleep(0.5)
    before = sim.requests()
    paths = [mount.path("jobs", "quiet", "status"), mount.path("jobs", "quiet", "status.json"),
             mount.path("status"), mount.path("events")]
    errors = []

    def reader():
        try:
            for _ in range(10):
                for p in paths:
                    read(p)
                os.listdir(mount.path("jobs", "quiet"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sim.requests() == before
