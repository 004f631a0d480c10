"""The tree of contract section 2: names, sizes, modes, and probes."""

import errno
import json
import os
import stat

import pytest

from util import read, wait_for, wait_state, write


def test_root(mount, sim):
    assert sorted(os.listdir(mount.mnt)) == ["README.txt", "events", "images", "jobs", "status",
                                             "videos"]
    assert os.listdir(mount.path("jobs")) == []
    readme = read(mount.path("README.txt"))
    assert "jobs/NAME.txt" in readme
    st = os.stat(mount.path("README.txt"))
    assert st.st_size == len(readme.encode())
    assert stat.S_IMODE(st.st_mode) == 0o444
    assert stat.S_ISDIR(os.stat(mount.path("jobs")).st_mode)
    assert stat.S_ISDIR(os.stat(mount.path("videos")).st_mode)
    assert os.stat(mount.path("jobs")).st_uid == os.getuid()


def test_job_directory(mount, sim):
    write(mount.path("jobs", "cat.txt"), "---\nseconds: 8\n---\nA cat on a piano\n")
    wait_state(mount, "cat", "completed")
    d = mount.path("jobs", "cat")
    names = sorted(os.listdir(d))
    assert names == sorted(["id", "status", "status.json", "request.json",
                            *(name for name, _ in sim.variants)])
    job_id = read(os.path.join(d, "id")).strip()
    assert job_id.startswith(sim.id_prefix)
    request = json.loads(read(os.path.join(d, "request.json")))
    assert request["prompt"] == "A cat on a piano"
    assert request["seconds"] == "8"
    assert request["model"] == "sora-2"
    assert "test-token" not in read(os.path.join(d, "request.json"))
    task = json.loads(read(os.path.join(d, "status.json")))
    assert task["id"] == job_id
    assert task["status"] == "completed"
    # every file reports its real size
    for name in names:
        p = os.path.join(d, name)
        assert os.stat(p).st_size == len(read(p, "rb")), name
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o444
    assert not os.path.exists(os.path.join(d, "error"))
    assert os.stat(os.path.join(d, "video.mp4")).st_size == 65536


def test_status_mtime_is_last_change(mount, sim):
    write(mount.path("jobs", "m.txt"), "mtime")
    p = mount.path("jobs", "m", "status")
    first = os.stat(p).st_mtime_ns
    wait_state(mount, "m", "completed")
    last = os.stat(p).st_mtime_ns
    assert last > first
    events = [json.loads(line) for line in read(mount.path("events")).splitlines()]
    done = [e for e in events if e["job"] == "m" and e["state"] == "completed"]
    assert done and abs(done[-1]["time"] - last / 1e9) < 1.0


def test_root_status_and_events(mount, sim):
    write(mount.path("jobs", "one.txt"), "first")
    write(mount.path("jobs", "two.txt"), "second")
    wait_state(mount, "one", "completed")
    wait_state(mount, "two", "completed")
    table = read(mount.path("status")).splitlines()
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["one"][1] == "completed"
    assert rows["one"][3] == read(mount.path("jobs", "one", "id")).strip()
    assert rows["two"][1] == "completed"
    events = [json.loads(line) for line in read(mount.path("events")).splitlines()]
    assert [e["state"] for e in events if e["job"] == "one"][-1] == "completed"
    assert os.stat(mount.path("events")).st_size == len(read(mount.path("events"), "rb"))
    assert os.stat(mount.path("status")).st_size == len(read(mount.path("status"), "rb"))


PROBES = [".hidden", ".Trash", ".Trash-1000", ".Trash-0", ".directory", "autorun.inf",
          "desktop.ini", ".git", ".svn", ".xdg-volume-info", "Thumbs.db", ".DS_Store"]


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_probes_answer_enoent_without_requests(mount, sim):
    write(mount.path("jobs", "p.txt"), "probe")
    wait_state(mount, "p", "completed")
    wait_for(lambda: os.listdir(mount.path("videos")), what="videos/ listed")
    before = sim.requests()
    dirs = [mount.mnt, mount.path("jobs"), mount.path("videos"), mount.path("jobs", "p"),
            mount.path("videos", read(mount.path("jobs", "p", "id")).strip())]
    for d in dirs:
        for name in PROBES:
            with pytest.raises(FileNotFoundError):
                os.stat(os.path.join(d, name))
            with pytest.raises(FileNotFoundError):
                open(os.path.join(d, name, "x"))
    assert sim.requests() == before


@pytest.mark.openai_only("videos/ learns of jobs made elsewhere from the list")
def test_videos_lists_the_account(mount, sim):
    made = sim.create("made elsewhere")
    wait_for(lambda: made["id"] in os.listdir(mount.path("videos")), what="videos/ listing")
    d = mount.path("videos", made["id"])
    assert "request.json" not in os.listdir(d)
    assert read(os.path.join(d, "id")).strip() == made["id"]
    sim.complete(made["id"])
    wait_for(lambda: read(os.path.join(d, "status")).startswith("completed"), what="completed")
    wait_for(lambda: os.path.exists(os.path.join(d, "video.mp4")), what="video.mp4")
    assert read(os.path.join(d, "video.mp4"), "rb") == sim.truth(made["id"])
    with pytest.raises(PermissionError):
        open(os.path.join(d, "status"), "w")
    with pytest.raises(OSError) as e:
        os.rmdir(d)
    assert e.value.errno == errno.EACCES


@pytest.mark.openai_only("videos/ learns of jobs made elsewhere from the list")
@pytest.mark.sim("--fail-message", "blocked\nfailed  completed  100%\x01 forged")
def test_failure_text_is_one_line_in_jobs_and_videos(mount, sim):
    """A failed job's API message may hold anything: jobs/NAME/error and
    videos/ID/error show it the same way, as one line."""
    write(mount.path("jobs", "bad.txt"), "a job that fails #fail\n")
    wait_state(mount, "bad", "failed")
    job_id = read(mount.path("jobs", "bad", "id")).strip()
    made = sim.create("made elsewhere #fail")
    wait_for(lambda: made["id"] in os.listdir(mount.path("videos")), what="videos/ listing")
    elsewhere = mount.path("videos", made["id"])
    wait_for(lambda: read(os.path.join(elsewhere, "status")).startswith("failed"), what="failed")
    want = "moderation_blocked: blocked failed  completed  100%  forged\n"
    assert read(mount.path("jobs", "bad", "error")) == want
    assert read(mount.path("videos", job_id, "error")) == want
    assert read(os.path.join(elsewhere, "error")) == want
    assert read(os.path.join(elsewhere, "status")) == "failed " + want
