#!/usr/bin/python3
"""Scale: what many jobs cost, each figure beside its baseline and target.

bench/scale.py [N...] [--through-mount] [--no-list]   (default: 100 1000 10000)

For each N, a state dir with N jobs: min(N, 1000) of them unfinished and the
rest completed, with ids the simulator knows.  They are written to the
journal as a mount that made them over months would have left it
(`POST /_sim/jobs`, no creates); --through-mount saves each through
jobs/NAME.txt instead (N creates: minutes at 10,000).  Then:

  - the time the mount takes to come up on that state dir;
  - the status requests of three poll intervals, with the list (Sora) and,
    unless --no-list, on a simulator without one (--style newapi); one
    retrieve per unfinished job per interval is the baseline;
  - `ls -l jobs/`, cold (the kernel's names and attributes expired) and
    warm, against the same listing of a tmpfs directory with as many
    entries;
  - a read of the root `status`;
  - the daemon's RSS.

It asserts nothing: it prints.
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

from util import Mount, Sim, job_record, read, write_journal  # noqa: E402

POLL = 1.0
ATTR_TIMEOUT = 1.0  # the mount's entry and attribute timeout (fs/ops.c)
UNFINISHED_MAX = 1000


def save(m, names):
    for n in names:
        with open(m.path("jobs", n + ".txt"), "w") as f:
            f.write(f"{n}: a lantern in the fog")


def best(fn, runs=3, before=None):
    times = []
    for _ in range(runs):
        if before:
            before()
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


def seed_state(sim, state, n, unfinished):
    """N jobs in the journal of `state`; returns their names."""
    done = sim.seed(n - unfinished, state="completed") if n > unfinished else []
    waiting = sim.seed(unfinished) if unfinished else []
    sizes = [-1, -1, -1, -1]
    if done:
        ident = done[0]["id"]
        sizes = [len(sim.truth(ident, v)) for v in ("video", "thumbnail", "spritesheet")] + [-1]
    records = [job_record(f"lamp{i}", v, f"lamp {i}", sizes) for i, v in enumerate(done)]
    records += [job_record(f"wait{i}", v, f"wait {i}") for i, v in enumerate(waiting)]
    write_journal(state, records)
    for r in records:
        with open(os.path.join(state, "files", r["prompt_file"]), "w") as f:
            f.write(r["prompt_data"])
    return [r["name"] for r in records]


def requests_per_interval(sim):
    time.sleep(POLL)
    sim.reset()
    time.sleep(3 * POLL)
    r = sim.requests()
    return (r["list"] + r["retrieve"]) / 3, r


def polling_without_list(n, unfinished):
    """Requests per interval where the API has no list (a new-api gateway)."""
    tmp = tempfile.mkdtemp(prefix="videofs-scale-")
    sim = Sim("--style", "newapi", "--gateway-refresh", "1", "--queue", "100000",
              "--video-bytes", "65536")
    m = None
    try:
        seed_state(sim, os.path.join(tmp, "state"), n, unfinished)
        m = Mount(tmp, sim.url, f"poll={POLL},prefetch=no")
        per, r = requests_per_interval(sim)
        m.umount()
        m = None
        return per, r
    finally:
        if m:
            m.cleanup()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(n, through_mount, no_list):
    unfinished = min(n, UNFINISHED_MAX)
    tmp = tempfile.mkdtemp(prefix="videofs-scale-")
    sim = Sim("--queue", "100000", "--video-bytes", "65536")
    m = None
    mirror = os.path.join("/dev/shm", f"videofs-scale-{os.getpid()}")
    try:
        state = os.path.join(tmp, "state")
        if through_mount:
            names = [f"lamp{i}" for i in range(n)]
            m = Mount(tmp, sim.url, f"poll={POLL},prefetch=no")
            t = time.perf_counter()
            writers = [threading.Thread(target=save, args=(m, names[i::8])) for i in range(8)]
            for w in writers:
                w.start()
            for w in writers:
                w.join()
            how = f"saved through the mount in {time.perf_counter() - t:.1f} s, all unfinished"
            unfinished = n
            m.umount()
        else:
            names = seed_state(sim, state, n, unfinished)
            how = f"put in the journal, {unfinished} unfinished"

        m = Mount(tmp, sim.url, f"poll={POLL},prefetch=no", start=False)
        t = time.perf_counter()
        m.start()
        up = time.perf_counter() - t
        shown = len([e for e in os.listdir(m.path("jobs")) if not e.endswith(".txt")])

        per, r = requests_per_interval(sim)
        target = math.ceil(unfinished / 100) + 3

        os.makedirs(mirror)
        for name in names:
            os.mkdir(os.path.join(mirror, name))
            with open(os.path.join(mirror, name + ".txt"), "w") as f:
                f.write("x")

        def ls(path):
            return lambda: subprocess.run(["ls", "-l", path], stdout=subprocess.DEVNULL,
                                          check=True)

        ls_cold = best(ls(m.path("jobs")), before=lambda: time.sleep(ATTR_TIMEOUT + 0.1))
        ls_warm = best(ls(m.path("jobs")))
        ls_tmpfs = best(ls(mirror))
        shutil.rmtree(mirror)
        status = best(lambda: read(m.path("status"), "rb"))
        rss = rss_kib(m.proc.pid)
        m.umount()
        m = None

        print(f"{n} jobs ({how}):")
        print(f"  a mount on their state dir is up in {up:.2f} s with {shown} jobs shown; "
              f"target about 1 s")
        print(f"  status requests per {POLL:g} s interval, with the list: {per:.1f} "
              f"({r['list']} list pages, {r['retrieve']} retrieves in 3); "
              f"one retrieve each: {unfinished}; ratio {per / unfinished:.3f}; "
              f"target <= {target}")
        if not no_list:
            per_nl, r_nl = polling_without_list(n, unfinished)
            print(f"  status requests per {POLL:g} s interval, without a list (newapi): "
                  f"{per_nl:.1f} ({r_nl['list']} list, {r_nl['retrieve']} retrieves in 3); "
                  f"one retrieve each: {unfinished}; ratio {per_nl / unfinished:.3f}; "
                  f"target: ratio <= 1")
        print(f"  ls -l jobs/ cold: {ls_cold * 1000:.1f} ms, warm: {ls_warm * 1000:.1f} ms, "
              f"tmpfs {ls_tmpfs * 1000:.1f} ms; ratio cold {ls_cold / ls_tmpfs:.2f}, "
              f"warm {ls_warm / ls_tmpfs:.2f}; target <= 3")
        print(f"  cat status: {status * 1000:.1f} ms; target <= 50 ms")
        print(f"  daemon RSS: {rss / 1024:.1f} MiB; target < 64 MiB")
        sys.stdout.flush()
    finally:
        if m:
            m.cleanup()
        sim.stop()
        shutil.rmtree(mirror, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = sys.argv[1:]
    through_mount = "--through-mount" in args
    no_list = "--no-list" in args
    sizes = [int(a) for a in args if not a.startswith("--")] or [100, 1000, 10000]
    for n in sizes:
        measure(n, through_mount, no_list)


if __name__ == "__main__":
    main()
