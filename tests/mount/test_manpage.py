"""The man page's examples, run against a mount (~/videos is the mount)."""

import json
import os
import re
import subprocess

from util import TOP, read

MANPAGE = os.path.join(TOP, "man", "videofs.rst")


def examples():
    text = read(MANPAGE)
    section = text.split("\nEXAMPLES\n", 1)[1].split("\nSEE ALSO\n", 1)[0]
    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", section)
    return ["\n".join(line[4:] for line in b.splitlines()) for b in blocks]


def test_examples(mount, sim, tmp_path):
    blocks = examples()
    assert len(blocks) == 2
    env = dict(os.environ, HOME=str(tmp_path / "home"))
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
