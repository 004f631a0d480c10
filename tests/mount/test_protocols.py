"""Both APIs through the mount: Ark for Seedance models, a reseller's shapes,
and ids unfit for file names."""

import errno
import json
import os

import pytest

from util import Mount, read, wait_for, wait_state, write


def ark_options(sim):
    return f"poll=0.2,ark_endpoint={sim.base}/api/v3"


def test_seedance_goes_to_ark(tmp_path, sim):
    m = Mount(tmp_path, sim.url, ark_options(sim))
    try:
        write(m.path("jobs", "ark.txt"),
              "---\nmodel: doubao-seedance-1-0-pro-250528\nseconds: 5\n---\na red kite\n")
        ident = read(m.path("jobs", "ark", "id")).strip()
        assert ident.startswith("cgt-")
        sent = json.loads(read(m.path("jobs", "ark", "request.json")))
        assert sent["model"] == "doubao-seedance-1-0-pro-250528"
        assert any("a red kite" in c.get("text", "") for c in sent["content"])
        wait_state(m, "ark", "completed")
        data = read(m.path("jobs", "ark", "video.mp4"), "rb")
        assert data == sim.truth(ident)
        stats = sim.stats()
        assert stats["requests"]["ark_create"] == 1
        assert stats["requests"]["create"] == 0
        assert stats["requests"]["file"] >= 1
        assert stats["bearer_on_presigned"] == 0
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()


@pytest.mark.sim("--style", "tokenhot")
def test_reseller_shapes(mount, sim):
    write(mount.path("jobs", "hot.txt"), "reseller job")
    ident = read(mount.path("jobs", "hot", "id")).strip()
    wait_state(mount, "hot", "completed")
    assert read(mount.path("jobs", "hot", "video.mp4"), "rb") == sim.truth(ident)
    # created_at in milliseconds still gives a sane directory time
    st = os.stat(mount.path("jobs", "hot"))
    assert abs(st.st_mtime - os.stat(mount.path("jobs", "hot.txt")).st_mtime) < 3600


@pytest.mark.parametrize("kind", ["slash", "dotdot", "long"])
def test_hostile_ids_never_become_paths(mount, sim, kind):
    sim.fault(f"hostile_id:kind={kind}")
    fd = os.open(mount.path("jobs", "evil.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"give me a bad id")
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.EIO
    assert sim.requests()["create"] == 1
    made = sim.create("another bad id")
    names = wait_for(lambda: os.listdir(mount.path("videos")) or [None], what="videos/")
    for name in names:
        assert name is None or ("/" not in name and name not in (".", "..") and len(name) <= 200)
    assert made["id"] not in names
    # the tree is intact
    assert sorted(os.listdir(mount.mnt)) == ["README.txt", "events", "images", "jobs", "status", "videos"]
    assert read(mount.path("jobs", "evil", "status")).startswith(("rejected", "unknown"))
