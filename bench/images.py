#!/usr/bin/python3
"""Images: a big base64 answer through images/, beside curl on the same request.

bench/images.py [SIDE...]   (default: 1024 4096)

For each SIDE, a `#noise` picture of SIDE x SIDE from gpt-image-1 (the
simulator's noise is as big as a photograph: 4096 is some 50 MB of PNG, 67 MB
of base64 in the JSON answer):

  - through the mount: the time from writing images/NAME.txt to a completed
    image.png whose bytes are the simulator's, the requests the simulator
    counted, and the daemon's peak RSS (VmHWM) before and after;
  - the baseline, in the same invocation: `curl` of the same request to a
    file, then Python's base64 decoding of its b64_json into the picture (what
    a script would do), its time and the peak RSS of those two.

It asserts nothing: it prints.
"""

import base64
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "mount"))

from util import Mount, Sim, read, wait_for  # noqa: E402


def vm_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def through_mount(sim, tmp, side, n):
    m = Mount(tmp, sim.url, "poll=1,image_wait=600")
    try:
        before = vm_kib(m.proc.pid, "VmHWM")
        sim.reset()
        name = f"noise{n}"
        t = time.perf_counter()
        with open(m.path("images", name + ".txt"), "w") as f:
            f.write(f"---\nmodel: gpt-image-1\nsize: {side}x{side}\n---\n#noise a field of static")
        wait_for(lambda: read(m.path("images", name, "status")).startswith("completed"),
                 timeout=600, what="completed")
        took = time.perf_counter() - t
        rid = read(m.path("images", name, "id")).strip()
        with open(m.path("images", name, "image.png"), "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        truth = hashlib.sha256(sim_bytes(sim, rid)).hexdigest()
        after = vm_kib(m.proc.pid, "VmHWM")
        stats = sim.stats()["requests"]
        size = os.stat(m.path("images", name, "image.png")).st_size
        return took, before, after, stats, got == truth, size
    finally:
        m.umount()


def sim_bytes(sim, rid):
    status, body = sim.call("GET", f"/_sim/images/{rid}/1")
    assert status == 200
    return body


def baseline(sim, tmp, side):
    body = json.dumps({"model": "gpt-image-1", "prompt": "#noise a field of static",
                       "size": f"{side}x{side}"})
    answer = os.path.join(tmp, "answer.json")
    t = time.perf_counter()
    subprocess.run(["curl", "-sS", "-o", answer, "-H", "Authorization: Bearer test-token",
                    "-H", "Content-Type: application/json", "--data-binary", body,
                    sim.url + "/images/generations"], check=True)
    code = ("import base64,json,sys; a=json.load(open(sys.argv[1])); "
            "open(sys.argv[2],'wb').write(base64.b64decode(a['data'][0]['b64_json']))")
    subprocess.run([sys.executable, "-c", code, answer, os.path.join(tmp, "image.png")],
                   check=True)
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, peak


def main():
    sides = [int(a) for a in sys.argv[1:]] or [1024, 4096]
    sim = Sim(token="test-token")
    try:
        print(f"{'side':>6} {'mount s':>8} {'curl+b64 s':>10} {'ratio':>6} {'bytes':>11} "
              f"{'RSS peak before->after':>24} {'curl+b64 peak':>14} {'requests':>9} exact")
        for i, side in enumerate(sides):
            with tempfile.TemporaryDirectory() as tmp:
                took, before, after, stats, exact, size = through_mount(sim, tmp, side, i)
            with tempfile.TemporaryDirectory() as tmp:
                base, peak = baseline(sim, tmp, side)
            requests = sum(v for k, v in stats.items() if k != "control")
            print(f"{side:>6} {took:>8.2f} {base:>10.2f} {took / base:>5.2f}x {size:>11} "
                  f"{before / 1024:>10.1f} -> {after / 1024:.1f} MiB {peak / 1024:>10.1f} MiB "
                  f"{requests:>5} ({stats['image_generate']} generate) {exact}")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
