"""inotify sees what the API changed (contract section 6): inotifywait, GLib's
file monitor (gio), Python's watchdog, at no cost in API requests."""

import os
import subprocess
import threading
import time

import pytest

from util import Mount, cleanup, have, read, wait_for, wait_state, write

CHANGES = ("MODIFY", "CREATE", "DELETE", "MOVED_FROM", "MOVED_TO", "ATTRIB")


class Inotifywait:
    """inotifywait -m on some paths, its events as (path, set of flags)."""

    def __init__(self, *paths, recursive=True):
        argv = ["inotifywait", "-m", "--format", "%w%f\t%e"]
        if recursive:
            argv.append("-r")
        self.proc = subprocess.Popen([*argv, *paths], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # inotifywait says "Watches established." on stderr once it watches
        line = "x"
        while line and "established" not in line:
            line = self.proc.stderr.readline()
        assert line, "inotifywait did not start"

    def _read(self):
        for line in self.proc.stdout:
            path, _, flags = line.rstrip("\n").partition("\t")
            self.lines.append((path, set(flags.split(","))))

    def changes(self, path=None, flag=None):
        """The events that say something changed (not the watcher's own opens)."""
        return [(p, f) for p, f in list(self.lines)
                if f & set(CHANGES) and (path is None or p == path)
                and (flag is None or flag in f)]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.reader.join(5)


class GioMonitor:
    """gio monitor (GLib's GFileMonitor) on a file or a directory."""

    def __init__(self, path, directory=False):
        argv = ["gio", "monitor", *(["-d"] if directory else []), path]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, name, what):
        return any(line.endswith(f"/{name}: {what}") for line in list(self.lines))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.reader.join(5)


def watchers_established():
    # GLib's monitor gives no signal of being ready; give it a moment
    time.sleep(0.5)


@pytest.mark.sim("--queue", "0.6", "--duration", "1.2")
def test_inotifywait_sees_status_and_video_of_each_job(mount, sim):
    write(mount.path("jobs", "idle.txt"), "a quiet pond")
    wait_state(mount, "idle", "completed")
    time.sleep(0.6)  # its last events are out (at most one per poll interval)
    w = Inotifywait(mount.path("jobs"))
    try:
        for name in ("fox", "owl"):
            write(mount.path("jobs", name + ".txt"), f"a {name} at dusk")
        for name in ("fox", "owl"):
            wait_state(mount, name, "completed")
        for name in ("fox", "owl"):
            d = mount.path("jobs", name)
            wait_for(lambda: len(w.changes(os.path.join(d, "video.mp4"))) > 0, timeout=10,
                     what="video.mp4 CREATE")
        time.sleep(0.6)  # two poll intervals: any late event would be in by now
        for name in ("fox", "owl"):
            d = mount.path("jobs", name)
            assert w.changes(d, "CREATE") == [(d, {"CREATE", "ISDIR"})], w.lines
            assert w.changes(os.path.join(d, "video.mp4")) == \
                [(os.path.join(d, "video.mp4"), {"CREATE"})], w.lines
            for entry in ("thumbnail.webp", "spritesheet.jpg"):
                assert len(w.changes(os.path.join(d, entry), "CREATE")) == 1
            modifies = w.changes(os.path.join(d, "status"), "MODIFY")
            # queued -> in_progress -> completed: at least one per change
            # of state, and no more than one per poll the job lived through
            assert 2 <= len(modifies) <= 12, w.lines
        # the job that did not change made no event
        assert not [e for e in w.changes() if "/idle" in e[0]], w.lines
    finally:
        w.stop()


@pytest.mark.sim("--queue", "0.4", "--duration", "0.8")
def test_root_status_and_events_are_modified(mount, sim):
    w = Inotifywait(mount.path("status"), mount.path("events"), recursive=False)
    try:
        write(mount.path("jobs", "gull.txt"), "a gull over the sea")
        wait_state(mount, "gull", "completed")
        wait_for(lambda: len(w.changes(mount.path("events"), "MODIFY")) >= 2, timeout=10,
                 what="events MODIFY")
        assert len(w.changes(mount.path("status"), "MODIFY")) >= 2, w.lines
        # what stat says after an event is true: the size of what a read gives
        assert os.stat(mount.path("events")).st_size == len(read(mount.path("events"), "rb"))
    finally:
        w.stop()


@pytest.mark.skipif(not have("gio"), reason="needs gio (libglib2.0-bin)")
@pytest.mark.sim("--queue", "0.6", "--duration", "1.2")
def test_glib_monitor_reports_created_and_changed(mount, sim):
    write(mount.path("jobs", "heron.txt"), "a heron in the reeds")
    wait_for(lambda: os.path.isdir(mount.path("jobs", "heron")), what="job dir")
    d = GioMonitor(mount.path("jobs", "heron"), directory=True)
    f = GioMonitor(mount.path("jobs", "heron", "status"))
    watchers_established()
    try:
        wait_state(mount, "heron", "completed")
        wait_for(lambda: d.saw("video.mp4", "created"), timeout=10, what="GLib created")
        wait_for(lambda: f.saw("status", "changed"), timeout=10, what="GLib changed")
        assert d.saw("status", "changed")
    finally:
        d.stop()
        f.stop()


def test_watchdog_sees_video_created(mount, sim):
    observers = pytest.importorskip("watchdog.observers")
    events = pytest.importorskip("watchdog.events")
    seen = []

    class Handler(events.FileSystemEventHandler):
        def on_any_event(self, event):
            seen.append(event)

    write(mount.path("jobs", "crane.txt"), "a crane taking off")
    wait_for(lambda: os.path.isdir(mount.path("jobs", "crane")), what="job dir")
    obs = observers.Observer()
    obs.schedule(Handler(), mount.path("jobs", "crane"), recursive=False)
    obs.start()
    try:
        assert type(obs).__name__ == "InotifyObserver"
        video = mount.path("jobs", "crane", "video.mp4")
        wait_for(lambda: any(isinstance(e, events.FileCreatedEvent) and e.src_path == video
                             for e in seen), timeout=15, what="FileCreatedEvent")
    finally:
        obs.stop()
        obs.join(5)


@pytest.mark.sim("--queue", "0", "--duration", "0.05")
def test_watchers_cost_no_requests(sim, tmp_path):
    """A job that completes at its first poll makes a fixed set of requests;
    20 watchers on the mount change none of them."""
    m = Mount(tmp_path, sim.url, "poll=0.5,prefetch=no")
    try:
        def one_job(name):
            sim.reset()
            write(m.path("jobs", name + ".txt"), f"{name}: a kite on a beach")
            wait_state(m, name, "completed")
            time.sleep(1.2)  # two more polls' worth: nothing more should come
            return sim.requests()

        one_job("first")  # the first job after a mount start may differ (the first listing)
        plain = one_job("plain")
        # as watch scripts do: jobs/ and the root files (a recursive watch of
        # videos/ reads it at each new entry, and reading videos/ refreshes it)
        watchers = [Inotifywait(m.path("jobs")) for _ in range(8)]
        watchers += [Inotifywait(m.path("status"), m.path("events"), recursive=False)
                     for _ in range(2)]
        glib = [GioMonitor(m.path("jobs"), directory=True) for _ in range(5)]
        glib += [GioMonitor(m.path("status")) for _ in range(5)]
        watchers_established()
        try:
            watched = one_job("watched")
            video = m.path("jobs", "watched", "video.mp4")
            assert all(w.changes(video, "CREATE") for w in watchers[:8])
            assert all(w.changes(m.path("events"), "MODIFY") for w in watchers[8:])
        finally:
            for w in watchers + glib:
                w.stop()
        print("requests per job:", {k: v for k, v in plain.items() if v})
        assert watched == plain, (plain, watched)
        m.umount()
    except BaseException:
        m.cleanup()
        raise


def within(seconds, what, fn, *args):
    """fn(*args) in a thread: a call that does not return in time is a hang."""
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # handed to the caller
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"hung: {what} took over {seconds} s"
    if "error" in out:
        raise out["error"]
    return out.get("value")


STRESS = 200


def stress_prompt(i):
    return f"take {i}: rain on a tin roof"


def save_all(m, names, errors):
    for n in names:
        try:
            write(m.path("jobs", n + ".txt"), stress_prompt(int(n[4:])))
        except OSError as e:  # the daemon was killed under us
            errors.append(e.errno)
            return


def to_resave(m):
    out = []
    for i in range(STRESS):
        n = f"take{i}"
        try:
            if read(m.path("jobs", n, "status")).startswith("rejected not_sent: "):
                out.append(n)
        except FileNotFoundError:
            out.append(n)
    return out


def states(m):
    words = {}
    for i in range(STRESS):
        try:
            words[f"take{i}"] = read(m.path("jobs", f"take{i}", "status")).split()[0]
        except FileNotFoundError:
            pass
    return words


@pytest.mark.sim("--queue", "0.2", "--duration", "0.5")
def test_stress_with_watchers_through_a_kill(sim, tmp_path):
    """200 jobs with watchers on jobs/, the daemon killed mid-way and mounted
    again: nothing hangs, every job completes once, unmount is quick."""
    m = Mount(tmp_path, sim.url, "poll=0.2,prefetch=no")
    watchers = []
    try:
        watchers = [Inotifywait(m.path("jobs")) for _ in range(3)]
        watchers += [GioMonitor(m.path("jobs"), directory=True) for _ in range(2)]
        names = [f"take{i}" for i in range(STRESS)]
        errors = []
        writers = [threading.Thread(target=save_all, args=(m, names[i::4], errors), daemon=True)
                   for i in range(4)]
        for w in writers:
            w.start()
        wait_for(lambda: len(os.listdir(m.path("jobs"))) >= STRESS // 2 or None, timeout=60,
                 what="half the prompts saved")
        m.proc.kill()
        # a daemon killed while a call of its own on the mount was being
        # answered must still die (the kernel waits for such an answer
        # through SIGKILL)
        within(10, "the killed daemon's exit", m.proc.wait)
        for w in writers:
            w.join(30)
            assert not w.is_alive(), "a writer hung on the killed mount"
        for w in watchers:
            w.stop()
        within(10, "cleanup of the killed mount", cleanup, m.proc, m.mnt)
        m.err.close()

        within(30, "remount", m.start)
        watchers = [Inotifywait(m.path("jobs")) for _ in range(3)]
        watchers += [GioMonitor(m.path("jobs"), directory=True) for _ in range(2)]
        within(120, "saving the rest", save_all, m, within(60, "listing", to_resave, m), [])
        made = {j["prompt"] for j in sim.jobs("test-token")}
        assert len(made) == sim.requests()["create"]  # nothing twice

        def settled():
            s = within(30, "reading status", states, m)
            # a job the API made completes; one whose create never left
            # (the kill came first) stays `unknown`, never sent again
            return len(s) == STRESS and all(
                w == ("completed" if stress_prompt(int(n[4:])) in made else "unknown")
                for n, w in s.items())

        within(120, "every job settled", wait_for, settled, 90, 0.2, "every job settled")
        print(f"{len(made)} of {STRESS} made; {len(errors)} saves cut by the kill")
        # the watchers of the new mount saw the videos of the jobs that ended
        # under them: one CREATE each, never two
        for w in watchers[:3]:
            creates = [p for p, f in w.changes(flag="CREATE") if p.endswith("/video.mp4")]
            assert len(creates) == len(set(creates)) > 0
        for w in watchers:
            w.stop()
        watchers = []
        start = time.monotonic()
        within(10, "unmount", m.umount)
        print(f"unmount took {time.monotonic() - start:.3f} s")
    except BaseException:
        for w in watchers:
            w.proc.kill()
        m.cleanup()
        raise
    m.check_stderr()


@pytest.mark.sim("--queue", "0.4", "--duration", "0.8")
def test_last_frame_is_created_for_watchers(sim, tmp_path):
    """Seedance's last_frame.png comes with the video, and so does its event."""
    m = Mount(tmp_path, sim.url, f"poll=0.2,ark_endpoint={sim.base}/api/v3")
    try:
        write(m.path("jobs", "kite.txt"),
              "---\nmodel: doubao-seedance-1-0-pro-250528\nreturn_last_frame: true\n---\n"
              "a kite over dunes\n")
        w = Inotifywait(m.path("jobs", "kite"), recursive=False)
        try:
            wait_state(m, "kite", "completed")
            frame = m.path("jobs", "kite", "last_frame.png")
            wait_for(lambda: w.changes(frame, "CREATE") or None, timeout=10,
                     what="last_frame.png CREATE")
            assert len(w.changes(frame, "CREATE")) == 1
            assert len(w.changes(m.path("jobs", "kite", "video.mp4"), "CREATE")) == 1
        finally:
            w.stop()
        m.umount()
    except BaseException:
        m.cleanup()
        raise
    m.check_stderr()
