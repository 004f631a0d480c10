"""videofs-sim's link shaping (--latency, --rate, --rate-total) and its
--moov-at-end video.  Times are checked against the switch only from
below (a shaped answer can never come sooner than the link allows) and
with a generous bound above."""

import http.client
import json
import os
import shutil
import struct
import subprocess
import threading
import time

import pytest

from util import Sim

TOKEN = "shape-token"


def new_video(sim):
    status, body = sim.call("POST", "/v1/videos", json.dumps({"prompt": "shaped"}),
                            headers={"Content-Type": "application/json"}, token=TOKEN)
    assert status == 200
    video_id = json.loads(body)["id"]
    status, _ = sim.call("POST", f"/_sim/jobs/{video_id}/complete")
    assert status == 200
    return video_id


def connection(sim):
    host, port = sim.base[len("http://"):].split(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)


def get(conn, path, headers=None):
    """(seconds to the status line, seconds to the last byte, status, body)."""
    t0 = time.monotonic()
    conn.request("GET", path, headers={"Authorization": "Bearer " + TOKEN, **(headers or {})})
    r = conn.getresponse()
    t1 = time.monotonic()
    body = r.read()
    return t1 - t0, time.monotonic() - t0, r.status, body


def shaped_sim(*args, video_bytes=1 << 20):
    return Sim("--queue", "0", "--duration", "60", "--video-bytes", str(video_bytes), *args,
               token=TOKEN)


def test_latency_before_each_answer_and_twice_on_a_new_connection():
    sim = shaped_sim("--latency", "300")
    try:
        video_id = new_video(sim)
        conn = connection(sim)
        first, _, status, _ = get(conn, f"/v1/videos/{video_id}")
        assert status == 200
        again, _, status, _ = get(conn, f"/v1/videos/{video_id}")
        assert status == 200
        conn.close()
        assert 0.6 <= first < 10
        assert 0.3 <= again < first
        # the simulator's own control calls are not shaped
        t0 = time.monotonic()
        sim.stats()
        assert time.monotonic() - t0 < 0.3
    finally:
        sim.stop()


@pytest.mark.parametrize("ranged", [False, True])
def test_rate_paces_content_whole_and_ranged(ranged):
    size = 3 << 20
    sim = shaped_sim("--rate", str(1 << 20), video_bytes=size)
    try:
        video_id = new_video(sim)
        status, truth = sim.call("GET", f"/_sim/truth/{video_id}")
        assert status == 200 and len(truth) == size
        start, want = (1 << 20, 2 << 20) if ranged else (0, size)
        headers = {"Range": f"bytes={start}-{start + want - 1}"} if ranged else {}
        conn = connection(sim)
        _, took, status, body = get(conn, f"/v1/videos/{video_id}/content", headers)
        conn.close()
        assert status == (206 if ranged else 200)
        assert body == truth[start:start + want]
        # want bytes at 1 MiB/s; the first 5 ms step may come at once
        assert want / (1 << 20) - 0.1 <= took < 30
        assert sim.stats()["content_bytes"] == want
    finally:
        sim.stop()


def test_rate_total_caps_all_connections_together():
    size = 1 << 20
    sim = shaped_sim("--rate-total", str(1 << 20), video_bytes=size)
    try:
        ids = [new_video(sim) for _ in range(3)]
        truths = {i: sim.call("GET", f"/_sim/truth/{i}")[1] for i in ids}
        results = {}

        def fetch(video_id):
            conn = connection(sim)
            results[video_id] = get(conn, f"/v1/videos/{video_id}/content")
            conn.close()

        threads = [threading.Thread(target=fetch, args=(i,)) for i in ids]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        for i in ids:
            assert results[i][2] == 200 and results[i][3] == truths[i]
        # three MiB through one MiB/s in all
        assert 3 - 0.1 <= took < 60
    finally:
        sim.stop()


def boxes(data):
    out, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8:at + 16])[0]
        out.append((kind.decode(), at, size))
        at += size
    return out, at


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_moov_at_end_is_a_playable_mp4_of_the_asked_size(tmp_path):
    size = 8 << 20
    sim = Sim("--queue", "0", "--duration", "60", "--video-bytes", str(size), "--moov-at-end",
              env=dict(os.environ, TMPDIR=str(tmp_path)))
    try:
        video_id = new_video(sim)
        status, data = sim.call("GET", f"/v1/videos/{video_id}/content")
        assert status == 200 and len(data) == size
    finally:
        sim.stop()
    found, end = boxes(data)
    assert [kind for kind, _, _ in found] == ["ftyp", "mdat", "moov"]
    assert end == size
    video = tmp_path / "v.mp4"
    video.write_bytes(data)
    for seek in ([], ["-ss", "1"]):
        frame = tmp_path / "f.png"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *seek, "-i", str(video),
                        "-frames:v", "1", str(frame)], check=True)
        assert frame.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        frame.unlink()
    # without its tail the file has no moov: ffmpeg cannot read it
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:found[2][1]])
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(cut), "-frames:v",
                        "1", str(tmp_path / "g.png")], capture_output=True)
    assert p.returncode != 0
