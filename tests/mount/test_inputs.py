"""Inputs beyond text: pictures a prompt names, remixes; what the simulator
received, byte for byte, and what is refused before anything is sent."""

import errno
import hashlib
import json
import os

import pytest

from util import Mount, read, wait_state, write

gi = pytest.importorskip("gi")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf  # noqa: E402


def png(width, height, rgba=0x3366ccff):
    pixbuf = GdkPixbuf.Pixbuf.new(GdkPixbuf.Colorspace.RGB, False, 8, width, height)
    pixbuf.fill(rgba)
    ok, data = pixbuf.save_to_bufferv("png", [], [])
    assert ok
    return data


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def received(sim):
    status, body = sim.call("GET", "/_sim/received")
    assert status == 200
    return json.loads(body)["creates"]


def submit_refused(mount, name, text):
    fd = os.open(mount.path("jobs", name + ".txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, text.encode())
    with pytest.raises(OSError) as e:
        os.close(fd)
    return e.value.errno, read(mount.path("jobs", name, "error"))


def test_image_goes_as_input_reference(mount, sim):
    picture = png(720, 1280)
    write(mount.path("jobs", "cat.png"), picture, "wb")
    write(mount.path("jobs", "cat-walks.txt"), "---\nimage: cat.png\n---\na cat walks\n")
    read(mount.path("jobs", "cat-walks", "id"))
    creates = received(sim)
    assert len(creates) == 1
    (create,) = creates
    assert create["route"] == "/v1/videos"
    assert create["fields"]["prompt"] == "a cat walks"
    assert create["fields"]["size"] == "720x1280"
    (part,) = create["files"]
    assert part["field"] == "input_reference"
    assert part["content_type"] == "image/png" and part["type"] == "image/png"
    assert part["filename"] == "cat.png"
    assert part["size"] == len(picture)
    assert part["sha256"] == sha256(picture)
    assert (part["width"], part["height"]) == (720, 1280)
    assert sim.requests()["create"] == 1
    sent = json.loads(read(mount.path("jobs", "cat-walks", "request.json")))
    ref = sent["input_reference"]
    assert ref == {"file": "cat.png", "type": "image/png", "size": len(picture),
                   "sha256": sha256(picture), "width": 720, "height": 1280}
    assert "image" not in sent


def test_image_by_absolute_path_jpeg(mount, sim, tmp_path):
    pixbuf = GdkPixbuf.Pixbuf.new(GdkPixbuf.Colorspace.RGB, False, 8, 1280, 720)
    pixbuf.fill(0x884422ff)
    ok, picture = pixbuf.save_to_bufferv("jpeg", ["quality"], ["90"])
    path = tmp_path / "wide.jpg"
    path.write_bytes(picture)
    write(mount.path("jobs", "wide.txt"), f"---\nsize: 1280x720\nimage: {path}\n---\nwide\n")
    (create,) = received(sim)
    (part,) = create["files"]
    assert part["content_type"] == "image/jpeg"
    assert part["sha256"] == sha256(picture)


def refit_cover(data, width, height):
    loader = GdkPixbuf.PixbufLoader.new_with_mime_type("image/png")
    loader.write(data)
    loader.close()
    src = loader.get_pixbuf()
    scale = max(width / src.get_width(), height / src.get_height())
    tw = max(round(src.get_width() * scale), width)
    th = max(round(src.get_height() * scale), height)
    scaled = src.scale_simple(tw, th, GdkPixbuf.InterpType.BILINEAR)
    out = scaled.new_subpixbuf((tw - width) // 2, (th - height) // 2, width, height)
    ok, fitted = out.save_to_bufferv("png", [], [])
    return fitted


def test_fit_cover_sends_the_fitted_png(mount, sim):
    picture = png(1000, 1000, 0x10ff20ff)
    write(mount.path("jobs", "square.png"), picture, "wb")
    write(mount.path("jobs", "tall.txt"),
          "---\nsize: 720x1280\nimage: square.png\nfit: cover\n---\na tall shot\n")
    (create,) = received(sim)
    (part,) = create["files"]
    assert part["type"] == "image/png" and part["content_type"] == "image/png"
    assert (part["width"], part["height"]) == (720, 1280)
    assert part["filename"] == "square.png"
    sent = json.loads(read(mount.path("jobs", "tall", "request.json")))
    ref = sent["input_reference"]
    assert ref["sha256"] == part["sha256"] and ref["size"] == part["size"]
    assert ref["fit"] == "cover"
    assert ref["source"] == {"type": "image/png", "size": len(picture), "sha256": sha256(picture),
                             "width": 1000, "height": 1000}
    assert part["sha256"] == sha256(refit_cover(picture, 720, 1280))
    assert sim.requests()["create"] == 1


def test_fit_contain_pads(mount, sim):
    write(mount.path("jobs", "square.png"), png(1000, 1000), "wb")
    write(mount.path("jobs", "boxed.txt"),
          "---\nsize: 1280x720\nimage: square.png\nfit: contain\n---\nboxed\n")
    (create,) = received(sim)
    (part,) = create["files"]
    assert (part["width"], part["height"]) == (1280, 720)


def test_without_fit_a_picture_of_another_size_is_refused(mount, sim):
    write(mount.path("jobs", "square.png"), png(1000, 1000), "wb")
    e, why = submit_refused(mount, "tall", "---\nsize: 720x1280\nimage: square.png\n---\ntall\n")
    assert e == errno.EINVAL
    assert "1000x1000" in why and "720x1280" in why and "fit: cover" in why
    assert sim.requests().get("create", 0) == 0
    assert received(sim) == []


def test_sim_refuses_a_picture_of_another_size(sim):
    body = (b"--xx\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n"
            b"--xx\r\nContent-Disposition: form-data; name=\"input_reference\"; "
            b"filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n" + png(64, 64)
            + b"\r\n--xx--\r\n")
    status, answer = sim.call("POST", "/v1/videos", body,
                              {"Content-Type": "multipart/form-data; boundary=xx"}, token="t")
    assert status == 400
    assert json.loads(answer)["error"]["message"] == (
        "Inpaint image must match the requested width and height")
    (create,) = received(sim)
    assert create["files"][0]["sha256"] == sha256(png(64, 64))


@pytest.mark.parametrize("kind", ["missing", "text", "directory", "job_directory", "huge"])
def test_bad_pictures_send_nothing(mount, sim, tmp_path, kind):
    if kind == "missing":
        name, want = "nothere.png", errno.EINVAL
    elif kind == "text":
        write(mount.path("jobs", "notes.png"), "just some words, not a picture\n")
        name, want = "notes.png", errno.EINVAL
    elif kind == "directory":
        name, want = str(tmp_path), errno.EINVAL
    elif kind == "job_directory":
        write(mount.path("jobs", "first.txt"), "a first job")
        name, want = "first", errno.EINVAL
    else:
        big = tmp_path / "big.png"
        with open(big, "wb") as f:
            f.write(png(720, 1280))
            f.truncate(20 * 1024 * 1024)
        name, want = str(big), errno.EFBIG
    before = sim.requests().get("create", 0)
    e, why = submit_refused(mount, "bad", f"---\nimage: {name}\n---\nbad input\n")
    assert e == want
    assert why.startswith("invalid_prompt: image: ")
    assert sim.requests().get("create", 0) == before
    # the mount is unharmed
    write(mount.path("jobs", "after.txt"), "still fine")
    read(mount.path("jobs", "after", "id"))


@pytest.mark.parametrize("key,value", [("last_image", "x.png"), ("references", "a.png, b.png"),
                                       ("reference_video", "https://example.com/v.mp4"),
                                       ("return_last_frame", "true")])
def test_keys_sora_does_not_take(mount, sim, key, value):
    e, why = submit_refused(mount, "k", f"---\n{key}: {value}\n---\nno\n")
    assert e == errno.EINVAL
    assert f"{key}: " in why
    assert sim.requests().get("create", 0) == 0


def test_remix_of_a_job_once_completed(mount, sim):
    write(mount.path("jobs", "a.txt"), "a first take")
    ident = read(mount.path("jobs", "a", "id")).strip()
    e, why = submit_refused(mount, "b", "---\nremix: a\n---\nthe same, at night\n")
    assert e == errno.EINVAL
    assert "remix: job a is" in why and "not completed" in why
    sim.complete(ident)
    wait_state(mount, "a", "completed")
    os.unlink(mount.path("jobs", "b.txt"))
    write(mount.path("jobs", "b.txt"), "---\nremix: a\n---\nthe same, at night\n")
    read(mount.path("jobs", "b", "id"))
    creates = received(sim)
    assert creates[-1]["route"] == f"/v1/videos/{ident}/remix"
    assert creates[-1]["fields"] == {"prompt": "the same, at night"}
    assert sim.requests()["remix"] == 1
    status = json.loads(read(mount.path("jobs", "b", "status.json")))
    assert status.get("remixed_from_video_id") == ident


def test_extend_a_completed_job(mount, sim):
    write(mount.path("jobs", "a.txt"), "---\nseconds: 8\n---\na first take")
    ident = read(mount.path("jobs", "a", "id")).strip()
    e, why = submit_refused(mount, "more", "---\nextend: a\nseconds: 4\n---\nand then\n")
    assert e == errno.EINVAL and "extend: job a is" in why
    sim.complete(ident)
    wait_state(mount, "a", "completed")
    os.unlink(mount.path("jobs", "more.txt"))
    write(mount.path("jobs", "more.txt"), "---\nextend: a\nseconds: 4\n---\nand then\n")
    read(mount.path("jobs", "more", "id"))
    create = received(sim)[-1]
    assert create["route"] == "/v1/videos/extensions"
    assert create["fields"] == {"prompt": "and then", "model": "sora-2", "seconds": "4",
                                "video[id]": ident}
    assert sim.requests()["extend"] == 1
    assert json.loads(read(mount.path("jobs", "more", "status.json")))["seconds"] == "12"
    sent = json.loads(read(mount.path("jobs", "more", "request.json")))
    assert sent["extend"] == {"source": "a", "id": ident}


def test_extend_where_the_api_has_no_extensions(mount, sim):
    write(mount.path("jobs", "a.txt"), "a first take")
    ident = read(mount.path("jobs", "a", "id")).strip()
    sim.complete(ident)
    wait_state(mount, "a", "completed")
    sim.fault("no_extensions")
    e, why = submit_refused(mount, "more", f"---\nextend: {ident}\n---\nand then\n")
    assert e == errno.ENOENT
    assert why.startswith("extensions_not_offered: this API offers no video extensions")
    assert read(mount.path("jobs", "more", "status")).startswith("rejected")
    write(mount.path("jobs", "after.txt"), "still fine")
    read(mount.path("jobs", "after", "id"))


ARK_MODEL = "doubao-seedance-1-0-pro-250528"


@pytest.fixture
def ark_mount(request, sim, tmp_path):
    m = Mount(tmp_path, sim.url, f"poll=0.2,ark_endpoint={sim.base}/api/v3")
    yield m
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        m.cleanup()
    else:
        m.umount()
        m.check_stderr()


def test_ark_first_and_last_frame_as_data_urls(ark_mount, sim):
    first, last = png(640, 480, 0xff0000ff), png(800, 600, 0x0000ffff)
    write(ark_mount.path("jobs", "dawn.png"), first, "wb")
    write(ark_mount.path("jobs", "dusk.png"), last, "wb")
    write(ark_mount.path("jobs", "day.txt"),
          f"---\nmodel: {ARK_MODEL}\nimage: dawn.png\nlast_image: dusk.png\n---\none day\n")
    read(ark_mount.path("jobs", "day", "id"))
    (create,) = received(sim)
    assert create["route"] == "/api/v3/contents/generations/tasks"
    files = create["files"]
    assert [f["field"] for f in files] == ["first_frame", "last_frame"]
    assert [f["sha256"] for f in files] == [sha256(first), sha256(last)]
    assert [f["content_type"] for f in files] == ["image/png", "image/png"]
    assert [(f["width"], f["height"]) for f in files] == [(640, 480), (800, 600)]
    items = create["fields"]["content"]
    assert items[0]["type"] == "text" and items[0]["text"].startswith("one day")
    assert [i.get("role") for i in items[1:]] == ["first_frame", "last_frame"]
    assert sim.requests()["ark_create"] == 1
    sent = json.loads(read(ark_mount.path("jobs", "day", "request.json")))
    assert sent["content"][1]["image_url"] == {
        "file": "dawn.png", "type": "image/png", "size": len(first), "sha256": sha256(first),
        "width": 640, "height": 480}
    assert "base64" not in read(ark_mount.path("jobs", "day", "request.json"))


def test_ark_references_and_reference_video(ark_mount, sim):
    a, b = png(32, 32, 0x00ff00ff), png(48, 48, 0xffff00ff)
    write(ark_mount.path("jobs", "fox.png"), a, "wb")
    write(ark_mount.path("jobs", "forest.png"), b, "wb")
    write(ark_mount.path("jobs", "run.txt"),
          f"---\nmodel: {ARK_MODEL}\nreferences: fox.png, forest.png\n"
          "reference_video: https://example.com/take1.mp4\n---\nthe fox runs\n")
    read(ark_mount.path("jobs", "run", "id"))
    (create,) = received(sim)
    assert [(f["field"], f["sha256"]) for f in create["files"]] == [
        ("reference_image", sha256(a)), ("reference_image", sha256(b))]
    video = create["fields"]["content"][-1]
    assert video == {"type": "video_url", "video_url": {"url": "https://example.com/take1.mp4"},
                     "role": "reference_video"}


@pytest.mark.parametrize("front,reason", [
    ("image: a.png\nreferences: a.png", "image: first and last frames exclude references"),
    ("last_image: a.png", "last_image: needs image:"),
    ("references: " + ", ".join(["a.png"] * 10), "references: 10 pictures"),
    ("reference_video: /tmp/v.mp4", "reference_video: /tmp/v.mp4 is not an http(s) URL"),
    ("remix: a", "remix: Seedance has no remix"),
    ("fit: cover", "fit: Seedance"),
])
def test_ark_refusals(ark_mount, sim, front, reason):
    write(ark_mount.path("jobs", "a.png"), png(16, 16), "wb")
    e, why = submit_refused(ark_mount, "bad", f"---\nmodel: {ARK_MODEL}\n{front}\n---\nno\n")
    assert e == errno.EINVAL
    assert reason in why
    assert sim.requests().get("ark_create", 0) == 0


def test_ark_last_frame_and_the_next_shot_from_it(ark_mount, sim):
    m = ark_mount
    write(m.path("jobs", "plain.txt"), f"---\nmodel: {ARK_MODEL}\n---\nno frame asked\n")
    write(m.path("jobs", "boat.txt"),
          f"---\nmodel: {ARK_MODEL}\nreturn_last_frame: true\n---\na paper boat\n")
    ident = read(m.path("jobs", "boat", "id")).strip()
    plain = read(m.path("jobs", "plain", "id")).strip()
    assert received(sim)[-1]["fields"]["return_last_frame"] is True
    # before A completes, its last frame is not there: refused, nothing sent
    e, why = submit_refused(m, "next", f"---\nmodel: {ARK_MODEL}\nimage: boat/last_frame.png\n"
                            "---\nthe boat sails on\n")
    assert e == errno.EINVAL and "boat/last_frame.png is not there" in why
    assert sim.requests()["ark_create"] == 2
    sim.complete(ident)
    sim.complete(plain)
    wait_state(m, "boat", "completed")
    wait_state(m, "plain", "completed")
    frame = sim.truth(ident, "last_frame")
    assert frame.startswith(b"\x89PNG\r\n\x1a\n")
    assert "last_frame.png" in os.listdir(m.path("jobs", "boat"))
    assert "last_frame.png" not in os.listdir(m.path("jobs", "plain"))
    assert os.stat(m.path("jobs", "boat", "last_frame.png")).st_size == len(frame)
    assert read(m.path("jobs", "boat", "last_frame.png"), "rb") == frame
    assert read(m.path("jobs", "boat", "video.mp4"), "rb") == sim.truth(ident)
    assert sim.stats()["bearer_on_presigned"] == 0
    # chaining: the next shot starts from it
    os.unlink(m.path("jobs", "next.txt"))
    write(m.path("jobs", "next.txt"), f"---\nmodel: {ARK_MODEL}\nimage: boat/last_frame.png\n"
          "---\nthe boat sails on\n")
    read(m.path("jobs", "next", "id"))
    create = received(sim)[-1]
    (part,) = create["files"]
    assert part["field"] == "first_frame" and part["sha256"] == sha256(frame)
    assert (part["width"], part["height"]) == (320, 240)
    assert sim.requests()["ark_create"] == 3


def test_sora_jobs_have_no_last_frame(mount, sim):
    write(mount.path("jobs", "s.txt"), "a sora job")
    ident = read(mount.path("jobs", "s", "id")).strip()
    sim.complete(ident)
    wait_state(mount, "s", "completed")
    assert "last_frame.png" not in os.listdir(mount.path("jobs", "s"))
    status, _ = sim.call("GET", f"/v1/videos/{ident}/content?variant=last_frame", token="t")
    assert status == 400


def test_kill_9_while_a_picture_is_being_sent(tmp_path, sim):
    import signal
    import threading

    from util import cleanup, wait_for
    picture = png(720, 1280, 0x777777ff)
    sim.fault("hang_create:seconds=30")
    m = Mount(tmp_path, sim.url, "poll=0.2,prefetch=no")
    try:
        write(m.path("jobs", "cat.png"), picture, "wb")

        def save():
            try:
                write(m.path("jobs", "pic.txt"), "---\nimage: cat.png\n---\na held picture\n")
            except OSError:
                pass  # the daemon died under it

        saver = threading.Thread(target=save)
        saver.start()
        wait_for(lambda: len(received(sim)) == 1, what="the create at the simulator")
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait()
        sim.clear_faults()
        saver.join(30)
        cleanup(m.proc, m.mnt)
        m.err.close()
        m.start()
        (made,) = sim.jobs("test-token")
        wait_for(lambda: read(m.path("jobs", "pic", "id")).strip() == made["id"] or None,
                 timeout=30, what="the job adopted")
        sent = json.loads(read(m.path("jobs", "pic", "request.json")))
        assert sent["input_reference"]["sha256"] == sha256(picture)
        assert sim.requests()["create"] == 1
        (create,) = received(sim)
        assert create["files"][0]["sha256"] == sha256(picture)
    except BaseException:
        m.cleanup()
        raise
    m.umount()
    m.check_stderr()


def test_webp_picture_for_sora(mount, sim):
    """A WebP is checked like a PNG (GdkPixbuf with webp-pixbuf-loader)."""
    pixbuf = GdkPixbuf.Pixbuf.new(GdkPixbuf.Colorspace.RGB, False, 8, 720, 1280)
    pixbuf.fill(0x22aa66ff)
    if "webp" not in [f.get_name() for f in GdkPixbuf.Pixbuf.get_formats()]:
        pytest.skip("no WebP loader for GdkPixbuf (webp-pixbuf-loader)")
    ok, picture = pixbuf.save_to_bufferv("webp", [], [])
    assert ok
    write(mount.path("jobs", "leaf.webp"), picture, "wb")
    write(mount.path("jobs", "leaf.txt"), "---\nimage: leaf.webp\n---\na leaf falls\n")
    read(mount.path("jobs", "leaf", "id"))
    (create,) = received(sim)
    (part,) = create["files"]
    assert part["content_type"] == "image/webp" and part["type"] == "image/webp"
    assert part["sha256"] == sha256(picture)
    assert (part["width"], part["height"]) == (720, 1280)
    # of another size it is refused before anything is sent, as a PNG is
    small = pixbuf.scale_simple(100, 100, GdkPixbuf.InterpType.BILINEAR)
    ok, other = small.save_to_bufferv("webp", [], [])
    write(mount.path("jobs", "small.webp"), other, "wb")
    e, why = submit_refused(mount, "small", "---\nimage: small.webp\n---\nsmall\n")
    assert e == errno.EINVAL and "100x100" in why, why
    assert len(received(sim)) == 1
