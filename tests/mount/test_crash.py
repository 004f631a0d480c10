"""kill -9 of the daemon at random moments of many submissions.

The simulator holds every create's answer for 0.4 s, so kills land before,
during and after creates. After each kill the mount comes back and the
prompts that have no job yet, or one that was never sent, are saved again,
as a user would. At the end every job the API made is shown under its name,
nothing was made twice, and no job that said it was never sent was made.
"""

import os
import random
import signal
import threading
import time

import pytest

from util import Mount, cleanup, read, wait_for

N = 24
PROMPTS = {f"take{i}": f"take {i}: a lighthouse in a storm, seen from a boat" for i in range(N)}


def submit_all(m, names, errors):
    for name in names:
        try:
            with open(m.path("jobs", name + ".txt"), "w") as f:
                f.write(PROMPTS[name])
        except OSError as e:  # the daemon died under us
            errors.append(e.errno)
            return


def never_sent(m, name):
    try:
        return read(m.path("jobs", name, "status")).startswith("rejected not_sent: ")
    except FileNotFoundError:
        return False


def to_save(m):
    return [n for n in PROMPTS if not os.path.isdir(m.path("jobs", n)) or never_sent(m, n)]


def job_ids(m):
    ids = {}
    for name in PROMPTS:
        try:
            ids[name] = read(m.path("jobs", name, "id")).strip()
        except FileNotFoundError:
            pass
    return ids


@pytest.mark.sim("--queue", "0.2", "--duration", "0.4", "--fault", "hang_create:seconds=0.4")
def test_kill_9_during_submissions(tmp_path, sim):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    print(f"CRASH_SEED={seed}")
    rng = random.Random(seed)
    m = Mount(tmp_path, sim.url, "poll=0.2,prefetch=no", start=False)
    kills = lost = unsent = 0
    try:
        while True:
            m.start()
            made = {j["prompt"] for j in sim.jobs("test-token")}
            for n in PROMPTS:
                if never_sent(m, n):
                    assert PROMPTS[n] not in made
                    unsent += 1
            todo = to_save(m)
            if not todo or kills == 10:
                break
            lost += sum(read(m.path("jobs", n, "status")).startswith("unknown")
                        for n in PROMPTS if os.path.isdir(m.path("jobs", n)))
            lost += read(m.path("events")).count('"adopted"')
            errors = []
            writers = [threading.Thread(target=submit_all, args=(m, todo[i::3], errors))
                       for i in range(3)]
            for w in writers:
                w.start()
            time.sleep(rng.uniform(0.05, 0.6))
            m.proc.send_signal(signal.SIGKILL)
            m.proc.wait()
            kills += 1
            for w in writers:
                w.join(30)
            cleanup(m.proc, m.mnt)
            m.err.close()
            # Nothing but the kill ended it (a GLib fatal log would be SIGTRAP).
            assert m.proc.returncode == -signal.SIGKILL, m.stderr()
        submit_all(m, to_save(m), [])
        made = sim.jobs("test-token")
        prompts = [j["prompt"] for j in made]
        # Nothing was sent twice: one job per prompt, as many creates as jobs.
        assert len(prompts) == len(set(prompts))
        assert sim.requests()["create"] == len(made)
        # Every job the API made comes back under its name (adopted if its
        # answer was lost to a kill).
        by_prompt = {j["prompt"]: j["id"] for j in made}
        want = {n: by_prompt[p] for n, p in PROMPTS.items() if p in by_prompt}
        wait_for(lambda: job_ids(m) == want or None, timeout=60, what="every job adopted")
        # A job marked as being sent whose create never left stays `unknown`;
        # everything else was made exactly once.
        for name in PROMPTS:
            if name not in want:
                assert read(m.path("jobs", name, "status")).startswith("unknown")
        print(f"{kills} kills, {lost} lost answers seen, {unsent} never sent, "
              f"{len(made)} jobs made")
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()
