"""The man page's examples, run against a mount (~/videos is the mount)."""

import json
import os
import re
import signal
import subprocess
import time

from util import TOP, read, wait_for

MANPAGE = os.path.join(TOP, "man", "videofs.rst")


def examples():
    text = read(MANPAGE)
    section = text.split("\nEXAMPLES\n", 1)[1].split("\nSEE ALSO\n", 1)[0]
    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", section)
    return ["\n".join(line[4:] for line in b.splitlines()) for b in blocks]


def test_examples(mount, sim, tmp_path):
    blocks = examples()
    assert len(blocks) == 5
    # python3 is Debian's, where python3-watchdog is
    env = dict(os.environ, HOME=str(tmp_path / "home"),
               PATH="/usr/bin:" + os.environ.get("PATH", ""))
    os.makedirs(env["HOME"])
    os.symlink(mount.mnt, os.path.join(env["HOME"], "videos"))
    work = tmp_path / "work"
    work.mkdir()
    # the first waits with `sleep 5`; the simulator is quicker than that
    subprocess.run(["bash", "-euc", blocks[0]], cwd=work, env=env, check=True, timeout=60)
    ident = read(mount.path("jobs", "kitten", "id")).strip()
    assert (work / "video.mp4").read_bytes() == sim.truth(ident)
    r = subprocess.run(["timeout", "2", "bash", "-euc", blocks[1]], env=env,
                       stdout=subprocess.PIPE, text=True)
    assert r.returncode == 124  # still following when stopped
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert any(e["job"] == "kitten" and e["state"] == "completed" for e in events)

    # the watch-script recipes: each sees a video appear, with no polling
    subprocess.run(["bash", "-euc", blocks[2]], cwd=work, env=env, check=True, timeout=60)
    ident = read(mount.path("jobs", "heron", "id")).strip()
    assert (work / "heron.mp4").read_bytes() == sim.truth(ident)

    each = subprocess.Popen(["bash", "-euc", blocks[3]], cwd=work, env=env,
                            start_new_session=True)
    py = subprocess.Popen(["bash", "-euc", blocks[4]], cwd=work, env=env,
                          stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(1)  # both watching
        with open(mount.path("jobs", "finch.txt"), "w") as f:
            f.write("A finch on a wire")
        wait_for(lambda: (work / "finch.mp4").exists()
                 and (work / "finch.mp4").stat().st_size > 0, timeout=30, what="finch.mp4")
        ident = read(mount.path("jobs", "finch", "id")).strip()
        wait_for(lambda: (work / "finch.mp4").read_bytes() == sim.truth(ident), timeout=10,
                 what="the whole copy")
        line = py.stdout.readline()
        home_videos = os.path.join(env["HOME"], "videos")
        assert line == f"done: {home_videos}/jobs/finch/video.mp4\n", line
    finally:
        for p in (each, py):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(5)
