#!/usr/bin/python3
"""Benchmarks of the videofs mount against videofs-sim, on loopback and on
a link the simulator shapes (bench/link.py).

    bench/run.py [options] all|seq|rclone|ttfb|tail|warm|rss|link|ttff|seek|whole|cpu ...

Each measure starts its own videofs-sim (--port 0, --queue 0, --duration 0.2)
and its own mount (prefetch=no, poll=0.2) in a fresh temporary directory, and
takes both down when done.  Every figure is printed beside the figure of a
baseline measured in the same invocation, as a ratio, with the target beside
it; best of --runs runs.  Nothing here passes or fails: it prints.

Cold reads always read a job this mount (and rclone's) never opened, so
neither the kernel's page cache nor the mount's cache dir holds any of it;
dropping the kernel's caches (/proc/sys/vm/drop_caches) is not needed, and
the server side is the same for every contender: the simulator's content
file is made and read once (a Range request for byte 0 to /_sim/truth)
before each timed read, so it is in the page cache for all of them.  Dirty
pages of the previous run are written out (sync) before each timed run.
"""

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "mount"))
import util  # noqa: E402  (the mounted tests' helpers: Sim, Mount, wait_for)
from util import wait_for  # noqa: E402

TOKEN = "bench-token"
MIB = 1 << 20
RCLONE = shutil.which("rclone")
CURL = shutil.which("curl")

MEASURES = ("seq", "rclone", "ttfb", "tail", "warm", "rss", "link", "ttff", "seek", "whole", "cpu")

VERBOSE = False


def note(text):
    if VERBOSE:
        print("    " + text, flush=True)


class Skip(Exception):
    """A measure that cannot run here (a missing program)."""


def need_built(path):
    if not os.access(path, os.X_OK):
        raise Skip(f"{path} is not built (ninja -C {util.BUILD})")


def stop_process(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def unmount(mnt):
    """The polite way down (the daemon finishes its work), lazily if that
    did not do."""
    if os.path.ismount(mnt):
        subprocess.call(["fusermount3", "-u", "-q", mnt], stderr=subprocess.DEVNULL)
    if os.path.ismount(mnt):
        subprocess.call(["fusermount3", "-u", "-z", "-q", mnt], stderr=subprocess.DEVNULL)


def mounts_under(top):
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [m for m in points if m == top or m.startswith(top + "/")]


def remove_tree(top):
    """Removes a bench directory, never through a mount still on it."""
    for mnt in mounts_under(top):
        subprocess.call(["fusermount3", "-u", "-z", "-q", mnt], stderr=subprocess.DEVNULL)
    left = mounts_under(top)
    if left:
        print(f"left {top} in place: still mounted on {', '.join(left)}", file=sys.stderr)
        return
    shutil.rmtree(top, ignore_errors=True)


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]i?)?B?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (want e.g. 268435456 or 256M)")
    unit = (m.group(2) or "")[:1].upper()
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[unit]


def mib(n):
    return f"{n / MIB:.1f} MiB"


def rate(nbytes, seconds):
    return nbytes / MIB / seconds if seconds > 0 else float("inf")


def sync():
    os.sync()


class Sim(util.Sim):
    """A videofs-sim of its own, its files in the bench directory, with the
    figures the measures read."""

    timeout = 120  # the first request for a big video writes its file

    def __init__(self, video_bytes, tmp):
        need_built(util.SIM)
        super().__init__("--queue", "0", "--duration", "0.2", "--video-bytes", str(video_bytes),
                         env=dict(os.environ, TMPDIR=tmp))
        self.video_bytes = video_bytes

    def content_bytes(self):
        return self.stats()["content_bytes"]

    def quiet_content_bytes(self, settle=1.0, timeout=60):
        """content_bytes once it has not moved for `settle` seconds (a
        mount may go on fetching after the reader has its bytes)."""
        last = self.content_bytes()
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.content_bytes()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= settle:
                break
        return last

    def content_url(self, job_id):
        return f"{self.url}/videos/{job_id}/content"

    def prewarm(self, job_id):
        """Makes the simulator write this id's content file now, outside any
        timed read (it is made on the first request for it)."""
        status, _ = self.call("GET", f"/_sim/truth/{job_id}?variant=video",
                              headers={"Range": "bytes=0-0"})
        if status not in (200, 206):
            raise RuntimeError(f"/_sim/truth/{job_id} answered {status}")


class Mount(util.Mount):
    """videofs -f on a mount point of its own, warnings not fatal (they are
    reported), taken down politely; remount() starts it again on the same
    state and cache dirs."""

    err_mode = "a"

    def __init__(self, sim, tmp, name="vf", options="poll=0.2,prefetch=no"):
        need_built(util.VIDEOFS)
        self.sim = sim
        self.dir = os.path.join(tmp, name)
        self.serial = 0
        super().__init__(self.dir, sim.url, options, token=TOKEN,
                         env={"G_DEBUG": os.environ.get("G_DEBUG", "")})

    def start(self):
        try:
            super().start()
        except (RuntimeError, TimeoutError) as e:
            self.err.close()
            raise RuntimeError(f"{e}: {self.daemon_said().strip()[-300:]}") from None

    def stop(self):
        if self.proc is None:
            return
        unmount(self.mnt)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
        self.proc = None
        self.err.close()

    def remount(self):
        self.stop()
        self.start()

    def daemon_said(self):
        with open(self.errpath, errors="replace") as f:
            return f.read()

    def vm(self, key):
        """A figure from /proc/PID/status, in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no {key} in /proc/{self.proc.pid}/status")

    def new_job(self, label):
        """Submits a prompt and waits for its video.mp4, full size; returns
        (path of video.mp4, task id)."""
        self.serial += 1
        name = f"{label}{self.serial}"
        util.write(self.path("jobs", name + ".txt"), f"benchmark clip {name}\n")
        video = self.path("jobs", name, "video.mp4")

        def done():
            try:
                status = util.status_of(self, name)
            except FileNotFoundError:
                return False
            if status.startswith(("failed", "rejected", "unknown")):
                raise RuntimeError(f"job {name}: {status.strip()}")
            if not status.startswith("completed"):
                return False
            try:
                return os.stat(video).st_size == self.sim.video_bytes
            except FileNotFoundError:
                return False

        wait_for(done, timeout=60, what=f"job {name} to complete with its video.mp4")
        return video, util.read(self.path("jobs", name, "id")).strip()

    def forget(self, video):
        """Drops a job and its cached bytes (rm -r jobs/NAME), to keep the
        disk from filling; a failure here only costs disk space."""
        job_dir = os.path.dirname(video)
        subprocess.call(["rm", "-rf", job_dir], stderr=subprocess.DEVNULL)
        subprocess.call(["rm", "-f", job_dir + ".txt"], stderr=subprocess.DEVNULL)

    def complaints(self):
        lines = [l for l in self.daemon_said().splitlines()
                 if re.search(r"WARNING|CRITICAL|\bERROR\b|error", l)]
        return lines


class Rclone:
    """rclone mount of the simulator's /files/ index over the http backend."""

    def __init__(self, sim, tmp, mode, names):
        if not RCLONE:
            raise Skip("rclone is not installed (bench/install-deps)")
        self.dir = os.path.join(tmp, f"rclone-{mode}")
        self.mnt = os.path.join(self.dir, "mnt")
        os.makedirs(self.mnt)
        self.log = open(os.path.join(self.dir, "rclone.log"), "w")
        self.proc = subprocess.Popen(
            [RCLONE, "mount", ":http:", self.mnt, "--http-url", sim.base + "/files/",
             "--vfs-cache-mode", mode, "--cache-dir", os.path.join(self.dir, "cache"),
             "--config", os.path.join(self.dir, "rclone.conf")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        try:
            wait_for(lambda: os.path.ismount(self.mnt) or self.proc.poll() is not None,
                     timeout=30, what="rclone to mount")
            if self.proc.poll() is not None:
                raise RuntimeError(f"rclone mount exited with {self.proc.returncode}")
            wait_for(lambda: set(names) <= set(os.listdir(self.mnt)), timeout=30,
                     what="rclone to list the videos")
        except Exception:
            self.stop()
            raise

    def path(self, name):
        return os.path.join(self.mnt, name)

    def stop(self):
        unmount(self.mnt)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
        self.log.close()


def timed(argv, stdout=subprocess.DEVNULL):
    """Wall time of one command; its failure is an error, not a figure."""
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {p.returncode}: "
                           + p.stderr.decode(errors="replace").strip()[-300:])
    return t


def first_byte(argv):
    """(time to the first byte on stdout, time to EOF, bytes) of a command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunk = p.stdout.read1(1 << 20)
    t1 = time.perf_counter()
    n = len(chunk)
    while chunk:
        chunk = p.stdout.read1(1 << 20)
        n += len(chunk)
    t2 = time.perf_counter()
    err = p.stderr.read()
    p.wait()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {p.returncode}: "
                           + err.decode(errors="replace").strip()[-300:])
    return t1 - t0, t2 - t0, n


def curl_argv(*extra):
    if not CURL:
        raise Skip("curl is not installed")
    return [CURL, "-s", "-S", "-f", "-H", "Authorization: Bearer " + TOKEN, *extra]


def cat_file(path):
    """Reads a file to /dev/null as `cat FILE > /dev/null` does; seconds."""
    return timed(["cat", path])


def curl_file(url):
    return timed(curl_argv("-o", "/dev/null", url))


class Report:
    def __init__(self):
        self.errors = 0

    def line(self, name, text):
        print(f"{name:<13} {text}", flush=True)

    def error(self, name, exc):
        self.errors += 1
        self.line(name, f"NOT MEASURED: {exc}")

    def skip(self, name, why):
        self.line(name, f"skipped: {why}")


def speed_line(label_a, a, label_b, b, target):
    ratio = a / b if b else float("inf")
    return (f"{label_a} {a:8.1f} MiB/s   {label_b} {b:8.1f} MiB/s   "
            f"ratio {ratio:5.2f}x   target {target}")


def show_runs(what, values, unit):
    note(f"{what}: " + ", ".join(f"{v:.1f}" for v in values) + f" {unit}")


def with_setup(fn):
    """Runs a measure with its own temporary directory and simulator."""
    def wrapper(args, report):
        tmp = tempfile.mkdtemp(prefix=f"videofs-bench-{fn.__name__}-")
        sim = None
        try:
            sim = Sim(args.video_bytes, tmp)
            fn(args, report, sim, tmp)
        finally:
            if sim:
                sim.stop()
            remove_tree(tmp)
    wrapper.__name__ = fn.__name__
    return wrapper


def mount_notes(report, name, mount):
    for l in mount.complaints()[:5]:
        report.line(name, f"  videofs said: {l.strip()[:200]}")


@with_setup
def seq(args, report, sim, tmp):
    """1: cold sequential read, videofs vs curl, and what the server sent."""
    size = args.video_bytes
    mount = Mount(sim, tmp)
    try:
        vf, cu, kept, fetched = [], [], [], []
        saved = os.path.join(tmp, "curl-download.mp4")
        for _ in range(args.runs):
            video, job_id = mount.new_job("seq")
            sim.prewarm(job_id)
            sync()
            cu.append(rate(size, curl_file(sim.content_url(job_id))))
            sync()
            kept.append(rate(size, timed(curl_argv("-o", saved, sim.content_url(job_id)))))
            os.unlink(saved)
            sync()
            before = sim.content_bytes()
            vf.append(rate(size, cat_file(video)))
            fetched.append(sim.quiet_content_bytes() - before)
            mount.forget(video)
        show_runs("videofs", vf, "MiB/s")
        show_runs("curl", cu, "MiB/s")
        show_runs("curl -o FILE", kept, "MiB/s")
        report.line("seq", speed_line("videofs", max(vf), "curl", max(cu), ">= 0.9x"))
        report.line("", f"  server sent per cold cat: {', '.join(mib(b) for b in fetched)} "
                        f"(file {mib(size)})")
        report.line("", f"  for scale, curl -o FILE (keeps the bytes on disk, as the mount does): "
                        f"{max(kept):.1f} MiB/s; videofs / that = {max(vf) / max(kept):.2f}x")
        mount_notes(report, "seq", mount)
    finally:
        mount.stop()


@with_setup
def rclone(args, report, sim, tmp):
    """2: cold sequential read, videofs vs rclone mount (cache mode off and full)."""
    if not RCLONE:
        raise Skip("rclone is not installed (bench/install-deps)")
    size = args.video_bytes
    mount = Mount(sim, tmp)
    mounts = {}
    try:
        jobs = [mount.new_job("rc") for _ in range(args.runs)]
        names = [job_id + ".mp4" for _, job_id in jobs]
        for mode in ("off", "full"):
            mounts[mode] = Rclone(sim, tmp, mode, names)
        results = {"videofs": [], "off": [], "full": []}
        for video, job_id in jobs:
            for who in ("videofs", "off", "full"):
                path = video if who == "videofs" else mounts[who].path(job_id + ".mp4")
                sim.prewarm(job_id)
                sync()
                results[who].append(rate(size, cat_file(path)))
        for who, values in results.items():
            show_runs(who if who == "videofs" else f"rclone {who}", values, "MiB/s")
        best = max(results["videofs"])
        for mode in ("off", "full"):
            report.line(f"rclone-{mode}",
                        speed_line("videofs", best, f"rclone({mode})", max(results[mode]),
                                   "> 1x (videofs faster)"))
        mount_notes(report, "rclone", mount)
    finally:
        for r in mounts.values():
            r.stop()
        mount.stop()


@with_setup
def ttfb(args, report, sim, tmp):
    """3: time to the first byte of `head -c 1M` on a cold file vs curl -r."""
    want = min(MIB, args.video_bytes)
    mount = Mount(sim, tmp)
    try:
        vf, cu, vf_all, cu_all = [], [], [], []
        for _ in range(args.runs):
            video, job_id = mount.new_job("ttfb")
            sim.prewarm(job_id)
            sync()
            t1, t2, n = first_byte(curl_argv("-r", f"0-{want - 1}", sim.content_url(job_id)))
            if n != want:
                raise RuntimeError(f"curl -r gave {n} bytes, not {want}")
            cu.append(t1)
            cu_all.append(t2)
            t1, t2, n = first_byte(["head", "-c", str(want), video])
            if n != want:
                raise RuntimeError(f"head -c gave {n} bytes, not {want}")
            vf.append(t1)
            vf_all.append(t2)
            mount.forget(video)
        show_runs("videofs first byte", [x * 1000 for x in vf], "ms")
        show_runs("curl first byte", [x * 1000 for x in cu], "ms")
        a, b = min(vf), min(cu)
        report.line("ttfb", f"videofs {a * 1000:8.2f} ms      curl {b * 1000:8.2f} ms      "
                            f"ratio {a / b:5.2f}x   (time; lower is better; no target)")
        a, b = min(vf_all), min(cu_all)
        report.line("", f"  whole {mib(want)}: videofs {a * 1000:.2f} ms, curl {b * 1000:.2f} ms, "
                        f"ratio {a / b:.2f}x")
        mount_notes(report, "ttfb", mount)
    finally:
        mount.stop()


@with_setup
def tail(args, report, sim, tmp):
    """4: bytes the server sent for `tail -c 1M` on a cold file."""
    want = min(MIB, args.video_bytes)
    mount = Mount(sim, tmp)
    try:
        fetched = []
        for _ in range(args.runs):
            video, job_id = mount.new_job("tail")
            sim.prewarm(job_id)
            sync()
            before = sim.quiet_content_bytes()
            _, _, n = first_byte(["tail", "-c", str(want), video])
            if n != want:
                raise RuntimeError(f"tail -c gave {n} bytes, not {want}")
            fetched.append(sim.quiet_content_bytes() - before)
            mount.forget(video)
        show_runs("fetched", [b / MIB for b in fetched], "MiB")
        best = min(fetched)
        report.line("tail", f"fetched {mib(best):>12}      asked {mib(want):>12}      "
                            f"ratio {best / want:5.2f}x   target <= 8 MiB "
                            f"(runs: {', '.join(mib(b) for b in fetched)})")
        mount_notes(report, "tail", mount)
    finally:
        mount.stop()


@with_setup
def warm(args, report, sim, tmp):
    """5: a second cat of the same file vs cat of a local copy; and the
    first cat after a remount (bytes from the cache dir)."""
    size = args.video_bytes
    mount = Mount(sim, tmp)
    try:
        video, job_id = mount.new_job("warm")
        sim.prewarm(job_id)
        sync()
        cold = rate(size, cat_file(video))
        local = os.path.join(tmp, "local.mp4")
        shutil.copyfile(video, local)
        sync()
        cat_file(local)
        lo, vf = [], []
        for _ in range(args.runs):
            lo.append(rate(size, cat_file(local)))
            vf.append(rate(size, cat_file(video)))
        show_runs("videofs warm", vf, "MiB/s")
        show_runs("local", lo, "MiB/s")
        note(f"the cold cat before them: {cold:.1f} MiB/s")
        report.line("warm", speed_line("videofs", max(vf), "local  ", max(lo), ">= 0.9x"))

        re_vf, fetched = [], []
        for _ in range(args.runs):
            mount.remount()
            sync()
            before = sim.content_bytes()
            re_vf.append(rate(size, cat_file(video)))
            fetched.append(sim.quiet_content_bytes(settle=0.5) - before)
        show_runs("videofs after remount", re_vf, "MiB/s")
        report.line("warm-remount", speed_line("videofs", max(re_vf), "local  ", max(lo),
                                               ">= 0.9x (first cat after a remount)"))
        report.line("", f"  server sent per cat after remount: "
                        f"{', '.join(mib(b) for b in fetched)} (want 0)")
        mount_notes(report, "warm", mount)
    finally:
        mount.stop()


@with_setup
def rss(args, report, sim, tmp):
    """6: peak RSS (VmHWM) of the daemon during 1 and during 8 parallel cold
    reads, each on a fresh mount; the idle peak before the reads is the
    baseline."""
    size = args.video_bytes
    for k in (1, args.parallel):
        peaks, idles, rates = [], [], []
        for run in range(args.runs):
            mount = Mount(sim, tmp, name=f"rss{k}-{run}")
            try:
                jobs = [mount.new_job("rss") for _ in range(k)]
                for _, job_id in jobs:
                    sim.prewarm(job_id)
                sync()
                idles.append(mount.vm("VmHWM"))
                t0 = time.perf_counter()
                procs = [subprocess.Popen(["cat", video], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE) for video, _ in jobs]
                peak_rss = sample_rss(mount, procs)
                t = time.perf_counter() - t0
                for p in procs:
                    err = p.stderr.read()
                    p.stderr.close()
                    if p.returncode != 0:
                        raise RuntimeError(f"cat exited with {p.returncode}: "
                                           + err.decode(errors="replace").strip()[-300:])
                peaks.append(max(mount.vm("VmHWM"), peak_rss))
                rates.append(rate(size * k, t))
                if run == args.runs - 1:
                    mount_notes(report, "rss", mount)
            finally:
                mount.stop()
                remove_tree(mount.dir)
        show_runs(f"peak with {k}", [p / MIB for p in peaks], "MiB")
        show_runs(f"idle before {k}", [p / MIB for p in idles], "MiB")
        best = min(peaks)
        report.line(f"rss-{k}", f"peak {mib(best):>12}      idle {mib(min(idles)):>12}      "
                                f"ratio {best / min(idles):5.2f}x   target < 64 MiB "
                                f"(worst run {mib(max(peaks))}; {k} reader(s) at "
                                f"{max(rates):.1f} MiB/s together)")


def sample_rss(mount, procs):
    """Waits for the readers, sampling VmRSS meanwhile (VmHWM has the peak
    too; the samples are a cross-check)."""
    peak = 0
    while any(p.poll() is None for p in procs):
        try:
            peak = max(peak, mount.vm("VmRSS"))
        except (OSError, RuntimeError):
            pass
        time.sleep(0.01)
    return peak


FUNCS = {"seq": seq, "rclone": rclone, "ttfb": ttfb, "tail": tail, "warm": warm, "rss": rss}


def describe(args):
    def version(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
            return " ".join(out.split()[:2]) if out else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not installed"
    rev = subprocess.run(["git", "-C", TOP, "log", "-1", "--format=%h %cd", "--date=short"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", TOP, "status", "--porcelain", "lib", "fs"], capture_output=True, text=True).stdout.strip()
    print(f"videofs bench: video {mib(args.video_bytes)}, best of {args.runs} runs, "
          f"build {util.BUILD}")
    print(f"  tree {rev}{' + uncommitted changes in lib/ or fs/' if dirty else ''}; kernel {platform.release()}; "
          f"{os.cpu_count()} cpus; {version([CURL or 'curl', '--version'])}; "
          f"{version([RCLONE or 'rclone', 'version'])}")
    print(flush=True)


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main():
    global VERBOSE
    signal.signal(signal.SIGTERM, interrupted)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("measures", nargs="*", default=["all"], metavar="MEASURE",
                   help="all (default), or some of: " + ", ".join(MEASURES))
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the best is shown (3)")
    p.add_argument("--video-bytes", type=parse_size, default=256 * MIB,
                   help="size of every video, e.g. 268435456 or 16M (256M)")
    p.add_argument("--parallel", type=int, default=8, help="readers in the rss measure (8)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every run's figures")
    args = p.parse_args()
    VERBOSE = args.verbose
    import link  # noqa: E402  (the measures on a shaped link; it imports this module)
    link.base.VERBOSE = VERBOSE
    FUNCS.update(link.MEASURES)
    if args.runs < 1 or args.parallel < 1 or args.video_bytes < 64:
        p.error("--runs and --parallel want at least 1, --video-bytes at least 64")
    wanted = []
    for m in args.measures:
        if m == "all":
            wanted += [x for x in MEASURES if x not in wanted]
        elif m in FUNCS:
            if m not in wanted:
                wanted.append(m)
        else:
            p.error(f"unknown measure {m!r} (want all or {', '.join(MEASURES)})")

    describe(args)
    report = Report()
    for m in wanted:
        try:
            FUNCS[m](args, report)
        except Skip as e:
            report.skip(m, str(e))
        except KeyboardInterrupt:
            report.line(m, "interrupted")
            return 130
        except Exception as e:  # a broken measure must not stop the others
            report.error(m, f"{type(e).__name__}: {e}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
