"""Scale and economy (contract section 9): many unfinished jobs are refreshed
from list pages, not one retrieve each."""

import json
import math
import os
import threading
import time

import pytest

from util import Mount, read, wait_for

N = 300
POLL = 1.0


def save(m, names):
    for n in names:
        with open(m.path("jobs", n + ".txt"), "w") as f:
            f.write(f"{n}: a paper boat on a stream")


@pytest.mark.sim("--queue", "6", "--duration", "8")
def test_many_unfinished_jobs_are_refreshed_by_pages(sim, tmp_path):
    m = Mount(tmp_path, sim.url, f"poll={POLL},prefetch=no")
    try:
        names = [f"boat{i}" for i in range(N)]
        writers = [threading.Thread(target=save, args=(m, names[i::4])) for i in range(4)]
        for w in writers:
            w.start()
        for w in writers:
            w.join(120)
        assert sim.requests()["create"] == N

        # a while of polling with every job unfinished
        sim.reset()
        start = time.monotonic()
        time.sleep(4 * POLL)
        took = time.monotonic() - start
        r = sim.requests()
        status_calls = r["list"] + r["retrieve"]
        intervals = math.ceil(took / POLL) + 1
        bound = (math.ceil(N / 100) + 3) * intervals
        print(f"{N} unfinished jobs, {took:.1f} s: {r['list']} list pages, "
              f"{r['retrieve']} retrieves (bound {bound}; one retrieve each would be "
              f"{N * intervals})")
        assert r["list"] > 0
        assert status_calls <= bound, r

        # every job is seen completed within two poll intervals of the API
        wait_for(lambda: all(read(m.path("jobs", n, "status")).startswith("completed")
                             for n in names) or None, timeout=90, what="all completed")
        done = {}
        for line in read(m.path("events")).splitlines():
            e = json.loads(line)
            if e["event"] == "completed":
                done[e["job"]] = e["time"]
        api = {j["id"]: j["completed_at"] for j in sim.jobs("test-token")}
        late = []
        for n in names:
            ident = read(m.path("jobs", n, "id")).strip()
            # completed_at is in whole seconds
            if done[n] - api[ident] > 2 * POLL + 1:
                late.append((n, done[n] - api[ident]))
        assert not late, late
        m.umount()
    except BaseException:
        m.cleanup()
        raise
    m.check_stderr()


@pytest.mark.sim("--queue", "300")
def test_background_traffic_leaves_room_for_creates(sim, tmp_path):
    """100 unfinished jobs at poll=0.2 would spend a budget of 60 requests a
    minute in seconds; the mount keeps the last tenth of it for creates."""
    m = Mount(tmp_path, sim.url, "poll=0.2,prefetch=no")
    try:
        save(m, [f"wait{i}" for i in range(100)])
        status, _ = sim.call("POST", "/_sim/ratelimit", "60")
        assert status == 200
        sim.reset()
        for i in range(5):
            time.sleep(3)
            # close() would fail with EAGAIN on a 429
            with open(m.path("jobs", f"more{i}.txt"), "w") as f:
                f.write(f"more {i}: a gull on a post")
            assert read(m.path("jobs", f"more{i}", "status")).startswith("queued")
        stats = sim.stats()
        r, limited = stats["requests"], stats["limited"]
        background = r["list"] + r["retrieve"]
        print(f"in {5 * 3} s: {r['create']} creates, {background} background requests, "
              f"{sum(limited.values())} refused")
        assert r["create"] == 5 and limited["create"] == 0
        # polling went on until the budget was down to the reserve, then waited
        assert 0 < background <= 60 - 6
        assert sum(limited.values()) == 0
        m.umount()
    except BaseException:
        m.cleanup()
        raise
    m.check_stderr()
