#!/usr/bin/python3
"""Scale: what many jobs cost, each figure beside its baseline and target.

bench/scale.py [N...]   (default: 100 1000)

For each N: N unfinished jobs saved through the mount (videofs-sim with a long
queue), then the status requests of three poll intervals (list pages and
retrieves; one retrieve per job per interval is the baseline), `ls -l jobs/`
against the same listing of a tmpfs directory with as many entries, a read
of the root `status`, the daemon's RSS, and the time a second mount on the
same state dir takes to come up.  It asserts nothing: it prints.
"""

import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "mount"))

from util import Mount, Sim, read  # noqa: E402

POLL = 1.0


def save(m, names):
    for n in names:
        with open(m.path("jobs", n + ".txt"), "w") as f:
            f.write(f"{n}: a lantern in the fog")


def best(fn, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def measure(n):
    tmp = tempfile.mkdtemp(prefix="videofs-scale-")
    sim = Sim("--queue", "100000", "--video-bytes", "65536")
    m = None
    try:
        m = Mount(tmp, sim.url, f"poll={POLL},prefetch=no")
        names = [f"lamp{i}" for i in range(n)]
        t = time.perf_counter()
        writers = [threading.Thread(target=save, args=(m, names[i::8])) for i in range(8)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        saved = time.perf_counter() - t

        time.sleep(POLL)
        sim.reset()
        time.sleep(3 * POLL)
        r = sim.requests()
        per = (r["list"] + r["retrieve"]) / 3
        target = math.ceil(n / 100) + 3

        mirror = os.path.join("/dev/shm", f"videofs-scale-{os.getpid()}")
        os.makedirs(mirror)
        for name in names:
            os.mkdir(os.path.join(mirror, name))
            open(os.path.join(mirror, name + ".txt"), "w").close()

        def ls(path):
            return lambda: subprocess.run(["ls", "-l", path], stdout=subprocess.DEVNULL,
                                          check=True)

        ls_mount = best(ls(m.path("jobs")))
        ls_tmpfs = best(ls(mirror))
        shutil.rmtree(mirror)
        status = best(lambda: read(m.path("status"), "rb"))
        rss = rss_kib(m.proc.pid)
        m.umount()

        t = time.perf_counter()
        m.start()
        up = time.perf_counter() - t
        shown = len([e for e in os.listdir(m.path("jobs")) if not e.endswith(".txt")])
        m.umount()
        m = None

        print(f"{n} jobs (saved in {saved:.1f} s):")
        print(f"  status requests per {POLL:g} s interval: {per:.1f} "
              f"({r['list']} list pages, {r['retrieve']} retrieves in 3); one retrieve each: {n}; "
              f"ratio {per / n:.3f}; target <= {target}")
        print(f"  ls -l jobs/: {ls_mount * 1000:.1f} ms, tmpfs {ls_tmpfs * 1000:.1f} ms, "
              f"ratio {ls_mount / ls_tmpfs:.2f}; target <= 3")
        print(f"  cat status: {status * 1000:.1f} ms; target <= 50 ms")
        print(f"  daemon RSS: {rss / 1024:.1f} MiB; target < 64 MiB")
        print(f"  a new mount on its state dir is up in {up:.2f} s with {shown} jobs shown; "
              f"target about 1 s")
    finally:
        if m:
            m.cleanup()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    for n in sizes:
        measure(n)


if __name__ == "__main__":
    main()
