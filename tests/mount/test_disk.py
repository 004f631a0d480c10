"""Disk faults in the state dir: it fills up in the middle of a run.  A save
fails with ENOSPC and nothing is sent, the mount keeps serving what it has,
and saves work again once there is room.  The state dir is a small tmpfs
(root only)."""

import errno
import os
import subprocess

import pytest

from util import Mount, read, wait_state, write

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs")


@pytest.fixture
def small_state(tmp_path):
    path = tmp_path / "small"
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(path)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot mount a tmpfs: {e}")
    yield str(path)
    subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory):
    """Fills the file system of `directory`; returns the filler's path."""
    filler = os.path.join(directory, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def save(mount, name, text):
    """Saves a prompt; the errno it failed with, or 0."""
    try:
        write(mount.path("jobs", name), text)
    except OSError as e:
        return e.errno
    return 0


def test_state_dir_full(sim, tmp_path, small_state):
    m = Mount(tmp_path, sim.url, "poll=0.2", state_dir=os.path.join(small_state, "state"))
    try:
        assert save(m, "before.txt", "a job before the disk fills\n") == 0
        wait_state(m, "before", "completed")
        creates = sim.requests().get("create", 0)

        filler = fill(small_state)
        assert save(m, "full.txt", "a job on a full disk\n") == errno.ENOSPC
        assert sim.requests().get("create", 0) == creates  # nothing was sent
        # What the mount has, it still serves.
        assert read(m.path("jobs", "before", "status")).startswith("completed")
        assert read(m.path("jobs", "before", "video.mp4"), "rb") == sim.truth(
            read(m.path("jobs", "before", "id")).strip())
        # The refused save left a draft, not a job: nothing to bill later.
        assert not os.path.isdir(m.path("jobs", "full"))
        assert "full.txt" in os.listdir(m.path("jobs"))
        os.unlink(filler)
        assert save(m, "after.txt", "a job once the disk is back\n") == 0
        assert save(m, "full.txt", "a job on a full disk, saved again\n") == 0
        wait_state(m, "after", "completed")
        wait_state(m, "full", "completed")
        assert sim.requests().get("create", 0) == creates + 2
    except BaseException:
        m.cleanup()
        raise
    else:
        m.umount()
    m.check_stderr(allow=r"videofs-Message")
