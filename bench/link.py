"""The link measures of bench/run.py: a shaped link, a player's first frame,
CPU per byte.

The simulator shapes its answers (--latency, --rate, --rate-total: this
kernel has no netem), for every client alike: the mount, curl and ffmpeg.
Each measure prints its figure beside a baseline of the same run, as a
ratio, with the target beside it; it asserts nothing.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

import run as base
from run import MIB, Skip, mib, rate, sync, timed, curl_argv, Mount
import util

FFMPEG = shutil.which("ffmpeg")
STRACE = shutil.which("strace")

# (name, round trip in ms, bytes a second per connection and in total)
PROFILES = (("20ms/100MB/s", 20, 100_000_000), ("80ms/12MB/s", 80, 12_000_000))
SLOW = PROFILES[-1][0]


class LinkSim(base.Sim):
    """A videofs-sim whose video has its moov at the end, behind a link of
    `profile` (None: loopback as it is)."""

    def __init__(self, video_bytes, tmp, profile=None, duration="0.2"):
        base.need_built(util.SIM)
        args = ["--queue", "0", "--duration", duration, "--video-bytes", str(video_bytes),
                "--moov-at-end"]
        self.latency = self.link_rate = 0
        if profile:
            _, self.latency, self.link_rate = profile
            args += ["--latency", str(self.latency), "--rate", str(self.link_rate),
                     "--rate-total", str(self.link_rate)]
        util.Sim.__init__(self, *args, env=dict(os.environ, TMPDIR=tmp))
        self.video_bytes = video_bytes


def with_link(fn, duration="0.2"):
    """Runs a measure once per profile, each with its own directory and
    simulator."""
    def wrapper(args, report):
        for profile in PROFILES:
            tmp = tempfile.mkdtemp(prefix=f"videofs-bench-{fn.__name__}-")
            sim = None
            try:
                sim = LinkSim(args.video_bytes, tmp, profile, duration)
                fn(args, report, sim, tmp, profile[0])
            finally:
                if sim:
                    sim.stop()
                base.remove_tree(tmp)
    wrapper.__name__ = fn.__name__
    return wrapper


def need_ffmpeg():
    if not FFMPEG:
        raise Skip("ffmpeg is not installed")


def ffmpeg_frame(path, seek=None, out=None):
    argv = [FFMPEG, "-nostdin", "-v", "error", "-y"]
    if seek is not None:
        argv += ["-ss", f"{seek:.3f}"]
    return argv + ["-i", path, "-frames:v", "1", out]


def reads_of(argv, path):
    """The regions (start, end) a command reads of `path`, in the order it
    reads them, from strace: what a player needs of the file, whatever
    serves it."""
    if not STRACE:
        return None
    log = path + ".strace"
    subprocess.run([STRACE, "-f", "-y", "-e", "trace=read,pread64,lseek", "-o", log, *argv],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    regions, pos = [], 0
    name = re.escape(os.path.realpath(path))
    with open(log) as f:
        for line in f:
            m = re.search(rf"lseek\(\d+<{name}>, -?\d+, SEEK_\w+\) += (\d+)", line)
            if m:
                pos = int(m.group(1))
                continue
            m = re.search(rf"\bread\(\d+<{name}>, .*\) += (\d+)", line)
            if m and int(m.group(1)):
                n = int(m.group(1))
                if regions and regions[-1][1] == pos:
                    regions[-1][1] += n
                else:
                    regions.append([pos, pos + n])
                pos += n
    os.unlink(log)
    return regions


def floor_of(regions, sim):
    """Seconds a client that reads those regions one after another would
    take on this link at best: a round trip to connect and one for the
    first request, the bytes at the rate, and between two regions a round
    trip or reading through the gap, whichever is shorter."""
    if regions is None:
        return None
    rtt = sim.latency / 1000
    t = 2 * rtt + sum(end - start for start, end in regions) / sim.link_rate
    for (_, end), (start, _) in zip(regions, regions[1:]):
        t += min(rtt, (start - end) / sim.link_rate) if start >= end else rtt
    return t


def line_times(report, name, label, vf, baseline, floor, target):
    ratio = vf / baseline if baseline else float("inf")
    text = (f"{label}: videofs {vf:7.2f} s   curl+ffmpeg {baseline:7.2f} s   "
            f"ratio {ratio:5.3f}x   target {target}")
    if floor is not None:
        text += f"   floor {floor:5.2f} s (videofs {vf / floor:.1f}x it)"
    report.line(name, text)


@with_link
def link(args, report, sim, tmp, profile):
    """Cold cat vs curl -o FILE on a shaped link."""
    size = args.video_bytes
    mount = Mount(sim, tmp)
    try:
        vf, cu, fetched, requests = [], [], [], []
        saved = os.path.join(tmp, "curl-download.mp4")
        for _ in range(args.runs):
            video, job_id = mount.new_job("link")
            sim.prewarm(job_id)
            sync()
            cu.append(rate(size, timed(curl_argv("-o", saved, sim.content_url(job_id)))))
            os.unlink(saved)
            sync()
            before, calls = sim.content_bytes(), sim.requests()["content"]
            vf.append(rate(size, base.cat_file(video)))
            fetched.append(sim.quiet_content_bytes() - before)
            requests.append(sim.requests()["content"] - calls)
            mount.forget(video)
        base.show_runs("videofs", vf, "MiB/s")
        base.show_runs("curl -o FILE", cu, "MiB/s")
        report.line(f"link {profile}",
                    base.speed_line("videofs", max(vf), "curl -o FILE", max(cu), ">= 0.95x"))
        report.line("", f"  link {sim.link_rate / MIB:.1f} MiB/s; server sent per cold cat: "
                        f"{', '.join(mib(b) for b in fetched)} (file {mib(size)}) "
                        f"in {', '.join(map(str, requests))} requests")
        base.mount_notes(report, "link", mount)
    finally:
        mount.stop()


def first_frame(args, report, sim, tmp, profile, seek_to_middle):
    need_ffmpeg()
    what = "seek" if seek_to_middle else "ttff"
    mount = Mount(sim, tmp)
    try:
        vf, cu, floors, fetched, local = [], [], [], [], []
        saved = os.path.join(tmp, "curl-download.mp4")
        out = os.path.join(tmp, "frame.png")
        for _ in range(args.runs):
            # the baseline: download it all, then the same ffmpeg on the file
            video, job_id = mount.new_job(what)
            sim.prewarm(job_id)
            sync()
            t = timed(curl_argv("-o", saved, sim.content_url(job_id)))
            seek = None
            if seek_to_middle:
                probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                        "format=duration", "-of", "csv=p=0", saved],
                                       capture_output=True, text=True)
                seek = float(probe.stdout.strip() or 0) / 2
            local.append(timed(ffmpeg_frame(saved, seek, out)))
            cu.append(t + local[-1])
            floors.append(floor_of(reads_of(ffmpeg_frame(saved, seek, out), saved), sim))
            os.unlink(saved)
            sync()
            before = sim.content_bytes()
            vf.append(timed(ffmpeg_frame(video, seek, out)))
            fetched.append(sim.quiet_content_bytes(settle=0.5) - before)
            mount.forget(video)
        base.show_runs("videofs", vf, "s")
        base.show_runs("curl + ffmpeg", cu, "s")
        label = "ffmpeg -ss middle" if seek_to_middle else "ffmpeg first frame"
        floor = min(floors) if None not in floors else None
        target = "<= 0.1x" if profile == SLOW else "none (<= 0.1x at the slow link)"
        line_times(report, f"{what} {profile}", label, min(vf), min(cu), floor, target)
        report.line("", f"  ffmpeg itself (on the local copy): {min(local):.2f} s; server sent "
                        f"meanwhile (the mount goes on with what it started): "
                        f"{', '.join(mib(b) for b in fetched)}")
        base.mount_notes(report, what, mount)
    finally:
        mount.stop()


@with_link
def ttff(args, report, sim, tmp, profile):
    """Time to the first frame of a cold moov-at-end video."""
    first_frame(args, report, sim, tmp, profile, False)


@with_link
def seek(args, report, sim, tmp, profile):
    """Time to the first frame at the middle of a cold video."""
    first_frame(args, report, sim, tmp, profile, True)


def cached_whole(mount, job_id):
    return bool(glob.glob(os.path.join(mount.cache, "**", job_id, "video"), recursive=True))


def whole(args, report, sim, tmp, profile):
    """With prefetch=yes: from `completed` in status to the file whole in
    the cache dir, vs size / rate."""
    size = args.video_bytes
    mount = Mount(sim, tmp, options="poll=0.2,prefetch=yes")
    try:
        spans = []
        for _ in range(args.runs):
            mount.serial += 1
            name = f"whole{mount.serial}"
            util.write(mount.path("jobs", name + ".txt"), f"benchmark clip {name}\n")
            status = mount.path("jobs", name, "status")
            t_done = None
            deadline = time.monotonic() + 60 + 4 * size / sim.link_rate
            job_id = None
            while time.monotonic() < deadline:
                try:
                    if job_id is None:
                        job_id = util.read(mount.path("jobs", name, "id")).strip() or None
                        if job_id:
                            sim.prewarm(job_id)
                    if t_done is None and util.read(status).startswith("completed"):
                        t_done = time.monotonic()
                except (FileNotFoundError, RuntimeError):
                    pass
                if t_done is not None and cached_whole(mount, job_id):
                    spans.append(time.monotonic() - t_done)
                    break
                time.sleep(0.01)
            else:
                raise RuntimeError(f"job {name} was not whole in the cache in time")
        base.show_runs("completed to whole", spans, "s")
        ideal = size / sim.link_rate
        best = min(spans)
        report.line(f"whole {profile}",
                    f"completed to whole {best:7.2f} s   size / rate {ideal:7.2f} s   "
                    f"ratio {best / ideal:5.2f}x   target ~1x (the link's own time)")
        base.mount_notes(report, "whole", mount)
    finally:
        mount.stop()


def cpu_of(pid):
    """User + system seconds of a live process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_cpu(argv):
    """(user + system seconds, wall seconds) of a command run to its end."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read()
    p.stderr.close()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {p.returncode}: "
                           + err.decode(errors="replace").strip()[-300:])
    return usage.ru_utime + usage.ru_stime, wall


def cpu(args, report):
    """CPU per GiB on loopback: a cold read (daemon + cat) vs curl -o FILE,
    and a warm one vs cat of a local file."""
    size = args.video_bytes
    gib = size / (1 << 30)
    tmp = tempfile.mkdtemp(prefix="videofs-bench-cpu-")
    sim = None
    try:
        sim = LinkSim(size, tmp)
        mount = Mount(sim, tmp)
        try:
            cold, curl, warm, local = [], [], [], []
            saved = os.path.join(tmp, "curl-download.mp4")
            for _ in range(args.runs):
                video, job_id = mount.new_job("cpu")
                sim.prewarm(job_id)
                sync()
                curl.append(child_cpu(curl_argv("-o", saved, sim.content_url(job_id)))[0])
                sync()
                cat_file_cold = cpu_of(mount.proc.pid)
                reader, _ = child_cpu(["cat", video])
                cold.append(reader + cpu_of(mount.proc.pid) - cat_file_cold)
                sync()
                child_cpu(["cat", saved])
                local.append(child_cpu(["cat", saved])[0])
                daemon = cpu_of(mount.proc.pid)
                reader, _ = child_cpu(["cat", video])
                warm.append(reader + cpu_of(mount.proc.pid) - daemon)
                os.unlink(saved)
                mount.forget(video)
            base.show_runs("cold cpu s", cold, "s")
            base.show_runs("curl cpu s", curl, "s")
            base.show_runs("warm cpu s", warm, "s")
            base.show_runs("local cat cpu s", local, "s")
            for name, a, la, b, lb, target in (
                    ("cpu-cold", min(cold), "videofs+cat", min(curl), "curl -o FILE", "<= 1.5x"),
                    ("cpu-warm", min(warm), "videofs+cat", min(local), "local cat", "none")):
                ratio = a / b if b else float("inf")
                report.line(name, f"{la} {a / gib:6.2f} s/GiB   {lb} {b / gib:6.2f} s/GiB   "
                                  f"ratio {ratio:5.2f}x   target {target} "
                                  f"(user+system, clock ticks of 10 ms)")
            base.mount_notes(report, "cpu", mount)
        finally:
            mount.stop()
    finally:
        if sim:
            sim.stop()
        base.remove_tree(tmp)


whole = with_link(whole, duration="3")  # time to make its file before it completes

MEASURES = {"link": link, "ttff": ttff, "seek": seek, "whole": whole, "cpu": cpu}
