"""Managing jobs (contract section 4): rm -r, mv, and removing prompt files."""

import errno
import os
import shutil
import stat
import subprocess

import pytest

from util import read, wait_state, write


def test_rm_r_forgets_a_job(mount, sim):
    write(mount.path("jobs", "gone.txt"), "to be forgotten")
    ident = read(mount.path("jobs", "gone", "id")).strip()
    wait_state(mount, "gone", "completed")
    read(mount.path("jobs", "gone", "video.mp4"), "rb")
    subprocess.check_call(["rm", "-r", mount.path("jobs", "gone")])
    assert not os.path.exists(mount.path("jobs", "gone"))
    assert "gone" not in os.listdir(mount.path("jobs"))
    assert "gone" not in read(mount.path("status"))
    # the prompt file stays; the job is not deleted on the API by default
    assert os.path.exists(mount.path("jobs", "gone.txt"))
    assert sim.requests()["delete"] == 0
    status, _ = sim.call("GET", f"/v1/videos/{ident}", token="t")
    assert status == 200
    # and its cached bytes are dropped
    assert not any(ident in name for _, _, names in os.walk(mount.cache) for name in names) \
        and not any(ident in d for _, dirs, _ in os.walk(mount.cache) for d in dirs)


def test_unlink_inside_a_job_changes_nothing(mount, sim):
    write(mount.path("jobs", "stay.txt"), "stays")
    before = sorted(os.listdir(mount.path("jobs", "stay")))
    os.unlink(mount.path("jobs", "stay", "status"))
    assert sorted(os.listdir(mount.path("jobs", "stay"))) == before
    assert read(mount.path("jobs", "stay", "status"))


def test_shutil_rmtree(mount, sim):
    write(mount.path("jobs", "tree.txt"), "rmtree")
    shutil.rmtree(mount.path("jobs", "tree"))
    assert not os.path.exists(mount.path("jobs", "tree"))


@pytest.mark.sim()
@pytest.mark.mount(options="poll=0.2,delete_remote=yes")
def test_rm_r_with_delete_remote(mount, sim):
    write(mount.path("jobs", "remote.txt"), "deleted on the API too")
    ident = read(mount.path("jobs", "remote", "id")).strip()
    subprocess.check_call(["rm", "-rf", mount.path("jobs", "remote")])
    assert sim.requests()["delete"] == 1
    status, _ = sim.call("GET", f"/v1/videos/{ident}", token="t")
    assert status == 404


def test_mv_renames_a_job(mount, sim):
    write(mount.path("jobs", "before.txt"), "renamed job")
    ident = read(mount.path("jobs", "before", "id")).strip()
    os.rename(mount.path("jobs", "before"), mount.path("jobs", "after"))
    names = os.listdir(mount.path("jobs"))
    assert "before" not in names and "before.txt" not in names
    assert "after" in names and "after.txt" in names
    assert read(mount.path("jobs", "after", "id")).strip() == ident
    assert read(mount.path("jobs", "after.txt")) == "renamed job"
    assert stat.S_IMODE(os.stat(mount.path("jobs", "after.txt")).st_mode) == 0o444
    wait_state(mount, "after", "completed")
    assert "after" in read(mount.path("status"))
    assert sim.requests()["create"] == 1
    # onto an existing job: refused
    write(mount.path("jobs", "other.txt"), "another")
    with pytest.raises(OSError) as e:
        os.rename(mount.path("jobs", "after"), mount.path("jobs", "other"))
    assert e.value.errno in (errno.ENOTEMPTY, errno.EEXIST)
    # out of jobs/: refused
    with pytest.raises(OSError) as e:
        os.rename(mount.path("jobs", "after"), mount.path("videos", "x"))
    assert e.value.errno == errno.EACCES


def test_mv_keeps_the_prompt_files_extension(mount, sim):
    body = '{"prompt": "a json job"}'
    write(mount.path("jobs", "js.txt~"), body)
    os.rename(mount.path("jobs", "js.txt~"), mount.path("jobs", "js.json"))
    os.rename(mount.path("jobs", "js"), mount.path("jobs", "moved"))
    names = sorted(os.listdir(mount.path("jobs")))
    assert names == ["moved", "moved.json"], names
    assert read(mount.path("jobs", "moved.json")) == body
    # a name no prompt file could have: refused, nothing moves
    with pytest.raises(OSError) as e:
        os.rename(mount.path("jobs", "moved"), mount.path("jobs", ".hidden"))
    assert e.value.errno == errno.EINVAL
    assert sorted(os.listdir(mount.path("jobs"))) == ["moved", "moved.json"]
    wait_state(mount, "moved", "completed")


def test_rm_of_a_prompt_file_removes_only_the_file(mount, sim):
    write(mount.path("jobs", "keep.txt"), "the job stays")
    os.unlink(mount.path("jobs", "keep.txt"))
    assert not os.path.exists(mount.path("jobs", "keep.txt"))
    assert os.path.isdir(mount.path("jobs", "keep"))
    wait_state(mount, "keep", "completed")


def test_rejected_draft_can_be_renamed_and_removed(mount, sim):
    p = mount.path("jobs", "rej.txt")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"bad #reject")
    with pytest.raises(OSError):
        os.close(fd)
    os.rename(p, mount.path("jobs", "rej.txt~"))
    assert read(mount.path("jobs", "rej.txt~")) == "bad #reject"
    os.unlink(mount.path("jobs", "rej.txt~"))
    subprocess.check_call(["rm", "-r", mount.path("jobs", "rej")])
    assert os.listdir(mount.path("jobs")) == []
