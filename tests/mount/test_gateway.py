"""A reseller's gateway of the new-api family (contract section 9): the
simulator's --style newapi lists and deletes nothing, answers retrieves from
a copy refreshed every --gateway-refresh seconds, fills completed_at in
early, and proxies content ignoring `variant`, with 400 until it has seen
the job finish."""

import base64
import json
import os
import time

import pytest

from test_inputs import png
from util import Mount, read, wait_for, wait_state, write



def gateway(*args, refresh="0.5"):
    """The simulator as a gateway (one sim marker: the closest one counts)."""
    return pytest.mark.sim("--style", "newapi", "--gateway-refresh", refresh, *args)


GATEWAY = gateway()
NO_LIST = "has no list of tasks"


def received(sim):
    status, body = sim.call("GET", "/_sim/received")
    assert status == 200
    return json.loads(body)["creates"]


@GATEWAY
@pytest.mark.mount(options="poll=0.2,prefetch=no")
def test_variants_the_gateway_bends_are_absent(mount, sim):
    """The proxy answers the MP4 for a thumbnail or sprite sheet: those files
    are absent, each was asked once, and the video is served."""
    write(mount.path("jobs", "g.txt"), "through a gateway")
    ident = read(mount.path("jobs", "g", "id")).strip()
    assert ident.startswith("task_") and len(ident) == 37 and ident[5:].isalnum()
    wait_state(mount, "g", "completed")
    asked = sim.gateway()
    # every 400 was a probe of the video; then one probe of each variant
    assert asked["content"] == {"video": asked["not_ready"] + 1, "thumbnail": 1,
                                "spritesheet": 1, "other": 0}
    d = mount.path("jobs", "g")
    assert sorted(os.listdir(d)) == ["id", "request.json", "status", "status.json", "video.mp4"]
    for name in ("thumbnail.webp", "spritesheet.jpg"):
        assert not os.path.exists(os.path.join(d, name))
        assert not os.path.exists(mount.path("videos", ident, name))
    assert not os.path.exists(os.path.join(d, "error"))
    before = sim.requests()
    time.sleep(1.0)  # five poll intervals: nothing is asked again
    assert sim.requests() == before
    assert sim.gateway() == asked
    truth = sim.truth(ident)
    assert truth[4:8] == b"ftyp"
    assert read(os.path.join(d, "video.mp4"), "rb") == truth
    after = sim.gateway()["content"]
    assert after == dict(asked["content"], video=asked["content"]["video"] + 1)


@gateway(refresh="1.2")
@pytest.mark.mount(options="poll=0.2")
def test_content_400_is_waited_out(mount, sim):
    """The retrieve says completed a refresh before the proxy serves: the
    400s in between (more than three poll intervals of them) are no
    failure, and the job shows in_progress until its video's size is
    known."""
    write(mount.path("jobs", "w.txt"), "wait for the proxy")
    seen = set()

    def done():
        text = read(mount.path("jobs", "w", "status"))
        seen.add(text.split()[0])
        assert "400" not in text and "not completed" not in text, text
        assert not os.path.exists(mount.path("jobs", "w", "error"))
        return text.startswith("completed")

    wait_for(done, interval=0.02, what="completed")
    assert seen <= {"queued", "in_progress", "completed"}
    assert sim.gateway()["not_ready"] >= 4
    ident = read(mount.path("jobs", "w", "id")).strip()
    assert read(mount.path("jobs", "w", "video.mp4"), "rb") == sim.truth(ident)
    events = read(mount.path("events"))
    assert " failed" not in events and "error" not in events


@gateway("--duration", "4")
@pytest.mark.mount(options="poll=0.2")
def test_no_list_is_learnt_once(mount, sim):
    """The list answers 404: the mount says so once, never asks again, polls
    each job on its own, and videos/ shows the jobs made here."""
    for i in range(3):
        write(mount.path("jobs", f"n{i}.txt"), f"no list {i}")
    ids = sorted(read(mount.path("jobs", f"n{i}", "id")).strip() for i in range(3))
    for _ in range(4):
        assert sorted(os.listdir(mount.path("videos"))) == ids
        time.sleep(0.3)
    for i in range(3):
        wait_state(mount, f"n{i}", "completed")
    assert sorted(os.listdir(mount.path("videos"))) == ids
    requests = sim.requests()
    assert requests["list"] == 1  # the start-up's token check
    assert requests["delete"] == 0
    assert requests["retrieve"] >= 3
    lines = [line for line in mount.stderr().splitlines() if NO_LIST in line]
    assert len(lines) == 1, mount.stderr()
    assert sim.url in lines[0]


@gateway("--duration", "3")
@pytest.mark.mount(options="poll=0.2")
def test_seconds_and_early_completed_at(mount, sim):
    """Times in seconds read as seconds; a completed_at set while the job
    runs does not make it look completed."""
    started = time.time()
    write(mount.path("jobs", "t.txt"), "times in seconds")
    wait_state(mount, "t", "in_progress")

    def early():
        task = json.loads(read(mount.path("jobs", "t", "status.json")))
        return task if task["status"] == "in_progress" and task["completed_at"] else None

    task = wait_for(early, what="an in_progress status.json with completed_at")
    assert task["completed_at"] > task["created_at"] > started - 2
    assert read(mount.path("jobs", "t", "status")).startswith("in_progress")
    assert not os.path.exists(mount.path("jobs", "t", "video.mp4"))
    assert abs(os.stat(mount.path("jobs", "t")).st_mtime - started) < 5
    wait_state(mount, "t", "completed")
    assert abs(os.stat(mount.path("jobs", "t", "video.mp4")).st_mtime - time.time()) < 60


@GATEWAY
@pytest.mark.mount(options="poll=0.2,seedance_via=gateway")
def test_seedance_through_the_gateway(mount, sim):
    """With seedance_via=gateway a Seedance job is a POST /videos with the
    Ark body in metadata, and its video comes from metadata.url."""
    picture = png(64, 48)
    write(mount.path("jobs", "shore.png"), picture, "wb")
    write(mount.path("jobs", "sea.txt"), "---\nmodel: doubao-seedance-1-0-pro-250528\n"
          "ratio: 16:9\nimage: shore.png\n---\nA calm sea\n")
    ident = read(mount.path("jobs", "sea", "id")).strip()
    assert ident.startswith("task_")
    creates = received(sim)
    assert len(creates) == 1 and creates[0]["route"] == "/v1/videos"
    fields = creates[0]["fields"]
    assert fields["model"] == "doubao-seedance-1-0-pro-250528"
    assert fields["prompt"].startswith("A calm sea")
    assert fields["metadata"]["ratio"] == "16:9"
    text, image = fields["metadata"]["content"]
    assert text == {"type": "text", "text": fields["prompt"]}
    assert image["role"] == "first_frame" and image["type"] == "image_url"
    url = image["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == picture
    assert "model" not in fields["metadata"]
    wait_state(mount, "sea", "completed")
    task = json.loads(read(mount.path("jobs", "sea", "status.json")))
    assert task["metadata"]["url"].startswith(sim.base + "/files/" + ident + ".mp4?sig=")
    assert sorted(os.listdir(mount.path("jobs", "sea"))) == [
        "id", "request.json", "status", "status.json", "video.mp4"]
    assert "base64" not in read(mount.path("jobs", "sea", "request.json"))
    assert read(mount.path("jobs", "sea", "video.mp4"), "rb") == sim.truth(ident)
    stats = sim.stats()
    assert stats["requests"]["create"] == 1 and stats["requests"]["ark_create"] == 0
    assert stats["requests"]["file"] >= 1 and stats["bearer_on_presigned"] == 0
    assert sim.gateway()["content"]["video"] == 0


@GATEWAY
def test_seedance_via_is_checked(sim, tmp_path):
    m = Mount(tmp_path, sim.url, "seedance_via=somewhere", start=False)
    with pytest.raises(RuntimeError):
        m.start()
    assert m.stderr() == "videofs: seedance_via=somewhere: want ark or gateway\n"
    m.err.close()
