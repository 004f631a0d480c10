"""The bounded `events` log (contract section 6): `tail -f` follows it across
trims with no gap and no repeat; a fresh read shows at most events_max bytes
of whole lines; events_max is refused below 4K."""

import json
import os
import subprocess
import threading

import pytest

import test_startup
from util import Mount, read, wait_for, wait_state, write

EVENTS_MAX = 4096


class Tail:
    """tail -f -n +1 on a file, its output gathered by a thread."""

    def __init__(self, path):
        self.proc = subprocess.Popen(["tail", "-f", "-n", "+1", "-s", "0.2", path],
                                     stdout=subprocess.PIPE)
        self.out = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._gather, daemon=True)
        self.thread.start()

    def _gather(self):
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def output(self):
        with self.lock:
            return self.out

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.thread.join()
        self.proc.stdout.close()


def run_jobs(mount, names, at_once=2):
    for i in range(0, len(names), at_once):
        batch = names[i:i + at_once]
        for name in batch:
            write(mount.path("jobs", name + ".txt"), f"the job called {name}")
        for name in batch:
            wait_state(mount, name, "completed")


def check_events(lines, names):
    """Each job's events once, in order: submitted first, completed last,
    progress only rising; times never going back; no line twice."""
    assert len(set(lines)) == len(lines)
    by_job = {}
    last_time = 0
    for line in lines:
        event = json.loads(line)
        assert event["time"] >= last_time, line
        last_time = event["time"]
        by_job.setdefault(event["job"], []).append(event)
    assert sorted(by_job) == sorted(names)
    for name, events in by_job.items():
        words = [e["event"] for e in events]
        assert words[0] == "submitted" and words.count("submitted") == 1, words
        assert words[-1] == "completed" and words.count("completed") == 1, words
        assert set(words[1:-1]) <= {"state"}, words
        progress = [e["progress"] for e in events if e["progress"] is not None]
        assert progress == sorted(progress), progress


@pytest.mark.mount(options=f"poll=0.2,events_max={EVENTS_MAX}")
def test_tail_follows_across_trims(mount, sim):
    tail = Tail(mount.path("events"))
    names = [f"t{i:02d}" for i in range(40)]
    try:
        run_jobs(mount, names)
        # tail has caught up once the last completion is printed
        wait_for(lambda: b'"job":"t39"' in tail.output()
                 and b'"completed"' in tail.output().rsplit(b'"job":"t39"', 1)[1],
                 what="tail to print the last completion")
        # nothing more comes: the jobs are done
        size = os.stat(mount.path("events")).st_size
        wait_for(lambda: len(tail.output()) == size, what="tail to read it all")
        printed = tail.output()
    finally:
        tail.stop()
    assert printed.endswith(b"\n")
    lines = printed.decode().splitlines()
    assert all(line.strip() for line in lines), "tail fell behind a trim"
    check_events(lines, names)

    # once tail's release is in, a new reader starts at the oldest line kept
    wait_for(lambda: os.stat(mount.path("events")).st_size <= EVENTS_MAX,
             what="the release of tail's handle")
    fresh = read(mount.path("events"), "rb")
    assert 0 < len(fresh) <= EVENTS_MAX
    assert len(fresh) == os.stat(mount.path("events")).st_size
    assert fresh.startswith(b"{") and fresh.endswith(b"\n")
    # whole lines: exactly the last lines tail printed
    assert printed.endswith(fresh)
    assert printed[-len(fresh) - 1:-len(fresh)] == b"\n"
    for line in fresh.decode().splitlines():
        json.loads(line)
    # the log was trimmed many times (at most half of it each time) while
    # tail held it open from its start
    assert len(printed) - len(fresh) > 3 * EVENTS_MAX


def test_events_max_from_config_file(sim, tmp_path):
    """The config file's events_max bounds the log as the option does."""
    conf = tmp_path / "config" / "videofs"
    conf.mkdir(parents=True)
    (conf / "config").write_text("[videofs]\nevents_max = 4K\n")
    mount = Mount(tmp_path, sim.url, "poll=0.2")
    try:
        names = [f"c{i:02d}" for i in range(16)]
        run_jobs(mount, names, at_once=4)
        text = read(mount.path("events"), "rb")
        assert len(text) <= 4096
        assert text.startswith(b"{") and text.endswith(b"\n")
        jobs = {json.loads(line)["job"] for line in text.decode().splitlines()}
        assert "c00" not in jobs and "c15" in jobs
        mount.umount()
    except BaseException:
        mount.cleanup()
        raise
    mount.check_stderr()


@pytest.mark.parametrize("value, words", [
    ("0", "events_max=0: want 4096 bytes (4K) or more"),
    ("4095", "events_max=4095: want 4096 bytes (4K) or more"),
    ("lots", "events_max=lots: want a size such as"),
])
def test_bad_events_max(tmp_path, sim, value, words):
    test_startup.test_bad_option(tmp_path, sim, "events_max=" + value, words)


def test_picture_events_in_the_one_log(mount, sim):
    """A picture's events go to the root events log, marked "dir": "images",
    and a tail -f sees them; a video job of the same name stays apart."""
    tail = Tail(mount.path("events"))
    try:
        write(mount.path("jobs", "cat.txt"), "a cat, moving")
        wait_state(mount, "cat", "completed")
        write(mount.path("images", "cat.txt"), "a cat, still")
        assert read(mount.path("images", "cat", "status")) == "completed\n"
        # the same name in both directories: each shows its own job
        assert json.loads(read(mount.path("images", "cat", "request.json")))["prompt"] == "a cat, still"
        assert json.loads(read(mount.path("jobs", "cat", "request.json")))["prompt"] == "a cat, moving"
        try:
            write(mount.path("images", "dog.txt"), "#reject a dog")
        except OSError as e:
            assert e.errno == 22
        else:
            raise AssertionError("a refused picture's close() succeeded")

        def pictures():
            lines = [json.loads(x) for x in tail.output().decode().splitlines()]
            return [(e["job"], e["event"], e["state"]) for e in lines if e.get("dir") == "images"]

        wait_for(lambda: len(pictures()) == 2, what="the pictures' events")
        rid = read(mount.path("images", "cat", "id")).strip()
        lines = [json.loads(x) for x in read(mount.path("events")).splitlines()]
        assert pictures() == [("cat", "completed", "completed"), ("dog", "rejected", "rejected")]
        cat = [e for e in lines if e.get("dir") == "images" and e["job"] == "cat"]
        assert cat[0]["id"] == rid
        videos = [e for e in lines if "dir" not in e]
        assert [e["event"] for e in videos] == ["submitted"] + [e["event"] for e in videos][1:]
        assert videos[-1]["state"] == "completed" and all(e["job"] == "cat" for e in videos)
    finally:
        tail.stop()
