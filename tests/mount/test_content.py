"""Reading video.mp4 and friends (contract section 5)."""

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from util import VARIANTS, read, wait_for, wait_state, write

SIZE = 65536


def submit(mount, name, text="a video"):
    write(mount.path("jobs", name + ".txt"), text)
    return read(mount.path("jobs", name, "id")).strip()


def content_bytes(sim):
    return sim.stats()["content_bytes"]


def test_content_appears_when_completed(mount, sim):
    ident = submit(mount, "c")
    assert read(mount.path("jobs", "c", "status")).split()[0] in ("queued", "in_progress")
    assert not os.path.exists(mount.path("jobs", "c", "video.mp4"))
    wait_state(mount, "c", "completed")
    for name, variant in VARIANTS:
        p = mount.path("jobs", "c", name)
        if (name, variant) not in sim.variants:
            assert not os.path.exists(p)
            continue
        truth = sim.truth(ident, variant)
        assert os.stat(p).st_size == len(truth)
        assert read(p, "rb") == truth
    assert os.stat(mount.path("jobs", "c", "video.mp4")).st_size == SIZE


def test_one_job_from_submit_to_download(mount, sim):
    ident = submit(mount, "counted")
    wait_state(mount, "counted", "completed")
    wait_for(lambda: content_bytes(sim) >= SIZE, what="prefetch")
    time.sleep(0.5)
    before = sim.requests()
    truth = sim.truth(ident)
    assert read(mount.path("jobs", "counted", "video.mp4"), "rb") == truth
    after = sim.requests()
    assert after == before  # prefetched: the read costs nothing
    assert after["create"] == 1
    print("\nrequests for one job, submit to downloaded:", after, file=sys.stderr)


# (the simulator's /_sim/truth answers count in its content_bytes: the
# truth is fetched before each measurement)


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_content_fetched_once(mount, sim, tmp_path):
    ident = submit(mount, "once")
    wait_state(mount, "once", "completed")
    truth = sim.truth(ident)
    time.sleep(0.3)
    start = content_bytes(sim)
    results = []
    threads = [threading.Thread(
        target=lambda: results.append(read(mount.path("jobs", "once", "video.mp4"), "rb")))
        for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [truth] * 4
    assert content_bytes(sim) - start == SIZE
    # again, from another process: from the cache
    assert subprocess.check_output(["cat", mount.path("jobs", "once", "video.mp4")]) == truth
    assert content_bytes(sim) - start == SIZE


def bdi_of(path):
    """/sys/class/bdi/MAJ:MIN of the file system mounted at path."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                return "/sys/class/bdi/" + fields[2]
    raise LookupError(path)


LARGE_RA_SIZE = 24_000_000


@pytest.mark.sim("--video-bytes", str(LARGE_RA_SIZE))
@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_large_read_ahead(mount, sim):
    """The kernel's read-ahead at 8 MiB (root can set read_ahead_kb) sends
    reads far ahead of the reader and out of order: the bytes stay exact,
    and little is fetched twice (only what a superseded request had in
    flight)."""
    knob = os.path.join(bdi_of(mount.mnt), "read_ahead_kb")
    if not os.access(knob, os.W_OK):
        pytest.skip(f"{knob} is not writable")
    write(knob, "8192")
    ident = submit(mount, "ra")
    wait_state(mount, "ra", "completed")
    truth = sim.truth(ident)
    time.sleep(0.3)
    start = content_bytes(sim)
    assert subprocess.check_output(["cat", mount.path("jobs", "ra", "video.mp4")]) == truth
    time.sleep(0.5)
    fetched = content_bytes(sim) - start
    print(f"\nread_ahead_kb 8192: {fetched} bytes fetched for {LARGE_RA_SIZE}", file=sys.stderr)
    assert LARGE_RA_SIZE <= fetched <= LARGE_RA_SIZE * 1.25


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_cache_survives_remount(mount, sim, tmp_path):
    ident = submit(mount, "kept")
    wait_state(mount, "kept", "completed")
    truth = sim.truth(ident)
    assert read(mount.path("jobs", "kept", "video.mp4"), "rb") == truth
    mount.umount()
    mount.start()
    start = content_bytes(sim)
    # whole in the cache: served from the cache file, short at the end
    fd = os.open(mount.path("jobs", "kept", "video.mp4"), os.O_RDONLY)
    try:
        assert os.pread(fd, 5000, SIZE - 1000) == truth[-1000:]
        assert os.pread(fd, 10, SIZE) == b""
        assert os.pread(fd, 70000, 0) == truth
    finally:
        os.close(fd)
    assert read(mount.path("jobs", "kept", "video.mp4"), "rb") == truth
    assert content_bytes(sim) == start


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_read_at_the_end_first(mount, sim):
    ident = submit(mount, "tail")
    wait_state(mount, "tail", "completed")
    truth = sim.truth(ident)
    with open(mount.path("jobs", "tail", "video.mp4"), "rb") as f:
        f.seek(SIZE - 1000)
        assert f.read() == truth[-1000:]
        f.seek(0)
        assert f.read(4096) == truth[:4096]
        f.seek(30000)
        assert f.read(5000) == truth[30000:35000]


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_json_instead_of_content_is_eio(mount, sim):
    ident = submit(mount, "js")
    wait_state(mount, "js", "completed")
    sim.fault("json_content:call=content")
    with pytest.raises(OSError) as e:
        read(mount.path("jobs", "js", "video.mp4"), "rb")
    assert e.value.errno == errno.EIO
    assert os.path.exists(mount.path("jobs", "js", "error"))
    assert read(mount.path("jobs", "js", "error")).strip()
    sim.clear_faults()
    data = wait_for(lambda: _try_read(mount.path("jobs", "js", "video.mp4")), what="good read")
    assert data == sim.truth(ident)


def _try_read(path):
    try:
        return read(path, "rb")
    except OSError:
        return None


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_cut_connection_never_reaches_the_reader(mount, sim):
    ident = submit(mount, "cut")
    wait_state(mount, "cut", "completed")
    sim.fault("cut:call=content,after=1000,count=1")
    data = _try_read(mount.path("jobs", "cut", "video.mp4"))
    truth = sim.truth(ident)
    # either the reader got an error, or the mount resumed and got it all
    assert data is None or data == truth
    assert wait_for(lambda: _try_read(mount.path("jobs", "cut", "video.mp4"))) == truth


@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_expired_is_enoent(mount, sim):
    ident = submit(mount, "gone")
    wait_state(mount, "gone", "completed")
    sim.expire(ident)
    with pytest.raises(OSError) as e:
        read(mount.path("jobs", "gone", "video.mp4"), "rb")
    assert e.value.errno == errno.ENOENT
    wait_for(lambda: read(mount.path("jobs", "gone", "status")).startswith("completed (expired)"),
             what="expired status")


@pytest.mark.sim("--video-bytes", "4000000")
@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_reader_waiting_for_bytes_can_leave(mount, sim):
    # Ctrl-C ends a reader that waits for bytes; the download it started
    # does not hold up the unmount (the fixture wants a clean exit in 10 s)
    submit(mount, "slow")
    wait_state(mount, "slow", "completed")
    sim.fault("slow:call=content,rate=2000")
    # Ctrl-C as a user's terminal sends it, whatever this test's parent ignores
    reader = subprocess.Popen(["cat", mount.path("jobs", "slow", "video.mp4")],
                              stdout=subprocess.DEVNULL,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.0)
    assert reader.poll() is None  # waiting for bytes
    t0 = time.monotonic()
    reader.send_signal(signal.SIGINT)
    reader.wait(10)
    assert time.monotonic() - t0 < 2


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="no ffprobe")
@pytest.mark.sim("--video-bytes", "2000000")
@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_ffprobe_reads_the_video(mount, sim):
    submit(mount, "probe")
    wait_state(mount, "probe", "completed")
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "default=noprint_wrappers=1:nokey=1",
                        mount.path("jobs", "probe", "video.mp4")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert abs(float(r.stdout.strip()) - 2.0) < 0.1


RANDOM_SIZE = 40_000_000


@pytest.mark.sim("--video-bytes", str(RANDOM_SIZE))
@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_random_preads_under_faults(mount, sim):
    """Threads reading runs and jumps at random on a cold file, while the
    server cuts connections and fails requests: every byte is right."""
    submit(mount, "rand")
    wait_state(mount, "rand", "completed")
    path = mount.path("jobs", "rand", "video.mp4")
    # Slow, so that the downloads of the first half (in the first quarter
    # of the file) are far from the second half's bytes (in the second
    # half of the file): those are fetched under the faults.
    sim.fault("slow:call=content,rate=1000000")
    seed = random.randrange(1 << 30)
    print(f"\nrandom pread seed {seed}", file=sys.stderr)
    got = []
    lock = threading.Lock()
    halfway = threading.Barrier(4)

    def reader(n):
        rng = random.Random(seed + n)
        fd = os.open(path, os.O_RDONLY)
        lo, hi = 0, RANDOM_SIZE // 4
        offset = hi
        try:
            for i in range(60):
                if i == 30:
                    halfway.wait(timeout=120)
                    lo, hi = RANDOM_SIZE // 2, RANDOM_SIZE
                    offset = hi
                if rng.random() < 0.4 or offset >= hi:
                    offset = rng.randrange(lo, hi)
                size = rng.choice((1, 4096, 65536, 131072, 300000))
                data = os.pread(fd, size, offset)
                with lock:
                    got.append((offset, size, data))
                offset += size
        finally:
            os.close(fd)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    halfway.wait(timeout=120)
    sim.fault("cut:call=content,after=300000")
    sim.fault("5xx:call=content,count=3")
    before = sim.requests().get("content", 0)
    for t in threads:
        t.join()
    sim.clear_faults()
    after = sim.requests().get("content", 0)
    print(f"content requests after the faults: {after - before}", file=sys.stderr)
    assert after - before > 3  # the faults had something to act on
    truth = sim.truth(mount_id(mount, "rand"))
    assert len(truth) == RANDOM_SIZE
    assert len(got) == 180
    for offset, size, data in got:
        assert data == truth[offset:offset + size], f"seed {seed}, offset {offset}, size {size}"


def mount_id(mount, name):
    return read(mount.path("jobs", name, "id")).strip()


TAIL_SIZE = 64 << 20


@pytest.mark.sim("--video-bytes", str(TAIL_SIZE))
@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_tail_fetches_little(mount, sim):
    ident = submit(mount, "big")
    wait_state(mount, "big", "completed")
    start = content_bytes(sim)
    tail = subprocess.check_output(["tail", "-c", "1M", mount.path("jobs", "big", "video.mp4")])
    time.sleep(0.5)
    fetched = content_bytes(sim) - start
    assert fetched <= 8 << 20, fetched
    assert tail == sim.truth(ident)[-(1 << 20):]


SLOW_SIZE = 8 << 20


@pytest.mark.sim("--video-bytes", str(SLOW_SIZE))
@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_remount_in_the_middle_of_a_download(mount, sim):
    ident = submit(mount, "half")
    wait_state(mount, "half", "completed")
    sim.fault("slow:call=content,rate=2000000")
    start = content_bytes(sim)
    with open(mount.path("jobs", "half", "video.mp4"), "rb") as f:
        first = f.read(4 << 20)
    mount.umount()
    sim.clear_faults()
    mount.start()
    data = read(mount.path("jobs", "half", "video.mp4"), "rb")
    fetched = content_bytes(sim) - start
    truth = sim.truth(ident)
    print(f"fetched {fetched} for {SLOW_SIZE}", file=sys.stderr)
    assert first == truth[:4 << 20]
    assert data == truth
    # what was fetched before the unmount is not fetched again
    assert fetched <= SLOW_SIZE + (2 << 20), fetched
