"""images/: prompt files sent to the three image APIs (OpenAI Images, Ark
Seedream, Gemini generateContent); the pictures the simulator made arrive
byte for byte, a request is sent once and never again on its own."""

import errno
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import time

import pytest

from test_inotify import Inotifywait
from test_submit import TEXT, vim
from util import Mount, cleanup, fusermount_u, have, read, wait_for, write

gi = pytest.importorskip("gi")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf  # noqa: E402

TOKEN = "test-token"
UNKNOWN = "unknown (the API may have made and billed it)"
COUNTERS = ("image_generate", "image_edit", "ark_image", "gemini_image")
SAFETY = "Your request was rejected as a result of our safety system"

pytestmark = pytest.mark.sim(token=TOKEN)


def options(sim, extra=""):
    opts = f"poll=0.2,ark_endpoint={sim.base}/api/v3,gemini_endpoint={sim.base}/v1beta"
    return opts + ("," + extra if extra else "")


@pytest.fixture
def mounts(request, sim, tmp_path):
    """make(extra options) -> a Mount on the simulator with the image
    endpoints; one state and cache dir per test, so a remount of the same
    Mount (start() again) finds what the last one left."""
    made = []

    def make(extra="", start=True):
        m = Mount(tmp_path, sim.url, options(sim, extra), token=TOKEN, start=start)
        made.append(m)
        return m

    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is None or rep.failed
    for m in made:
        if m.proc is None:
            continue
        code = m.proc.poll()
        if code is not None:  # refused to start, or killed (kill9()), or died
            m.cleanup()
            assert failed or code in (1, -signal.SIGKILL), f"videofs exited with {code}"
        elif failed:
            m.cleanup()
        else:
            m.umount()
            m.check_stderr()


def kill9(m):
    """kill -9 of the daemon, and the mount point freed for a remount."""
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    cleanup(m.proc, m.mnt)
    m.err.close()
    assert m.proc.returncode == -signal.SIGKILL, m.stderr()
    m.err_mode = "a"


def remount(m):
    m.umount()
    m.check_stderr()
    m.err_mode = "a"
    m.start()


def img(m, *parts):
    return m.path("images", *parts)


def status(m, name):
    return read(img(m, name, "status")).rstrip("\n")


def status_if(m, name, prefix):
    """images/NAME's status when it starts with `prefix`, else None."""
    path = img(m, name, "status")
    line = read(path).rstrip("\n") if os.path.exists(path) else ""
    return line if line.startswith(prefix) and line else None


def wait_status(m, name, prefix, timeout=30.0):
    return wait_for(lambda: status_if(m, name, prefix), timeout=timeout,
                    what=f"images/{name} to be {prefix}")


def counts(sim):
    r = sim.requests()
    return {k: r[k] for k in COUNTERS}


def only(counter, n=1):
    want = dict.fromkeys(COUNTERS, 0)
    want[counter] = n
    return want


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def truth(sim, ident, n):
    """The exact bytes of picture n the simulator made for request `ident`."""
    code, body = sim.call("GET", f"/_sim/images/{ident}/{n}")
    assert code == 200, body
    return body


def received(sim):
    code, body = sim.call("GET", "/_sim/received")
    assert code == 200
    return json.loads(body)["creates"]


def decode(data):
    """(format, width, height) of a picture, by decoding it whole."""
    loader = GdkPixbuf.PixbufLoader()
    loader.write(data)
    loader.close()
    pixbuf = loader.get_pixbuf()
    return loader.get_format().get_name(), pixbuf.get_width(), pixbuf.get_height()


def png(width, height, rgba=0x3366ccff, alpha=False):
    pixbuf = GdkPixbuf.Pixbuf.new(GdkPixbuf.Colorspace.RGB, alpha, 8, width, height)
    pixbuf.fill(rgba)
    ok, data = pixbuf.save_to_bufferv("png", [], [])
    assert ok
    return data


def pictures(m, name):
    """The picture files of images/NAME, in their order."""
    names = [n for n in os.listdir(img(m, name)) if n.startswith("image")]
    return sorted(names, key=lambda n: (len(n), n))


def picture_names(n, ext):
    return [f"image.{ext}"] + [f"image-{k}.{ext}" for k in range(2, n + 1)]


def cached(m, data):
    """Files under the cache dir holding exactly `data`."""
    found = []
    for top, _, names in os.walk(m.cache):
        for name in names:
            path = os.path.join(top, name)
            if os.path.getsize(path) == len(data) and read(path, "rb") == data:
                found.append(path)
    return found


def close_fails(path, text):
    """open/write/close in Python: the errno close() fails with (None: 0)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, text.encode())
    try:
        os.close(fd)
    except OSError as e:
        return e.errno
    return None


def assert_pictures(m, sim, name, n, fmt, size):
    """images/NAME holds n pictures of format `fmt` and `size`, with exactly
    the simulator's bytes, each stat'ed at its real size, read-only, and
    synced in the cache dir; returns them."""
    ident = read(img(m, name, "id")).strip()
    assert pictures(m, name) == picture_names(n, fmt)
    got = []
    for k, entry in enumerate(picture_names(n, fmt), 1):
        path = img(m, name, entry)
        data = read(path, "rb")
        assert data == truth(sim, ident, k), entry
        st = os.stat(path)
        assert st.st_size == len(data)
        assert stat.S_IMODE(st.st_mode) == 0o444
        assert decode(data) == (fmt, *size)
        assert [p for p in cached(m, data) if "/images/" in p[len(m.cache):]], \
            f"{entry} is not in {m.cache}/images/"
        got.append(data)
    assert len(set(got)) == n  # no two alike
    return got


# --- every protocol, n = 1 and 3 ------------------------------------------

CASES = {
    # name: (model, counter, front matter, format, (width, height))
    "openai-jpeg": ("gpt-image-1", "image_generate", "size: 96x64\noutput_format: jpeg\n",
                    "jpeg", (96, 64)),
    "openai-webp": ("gpt-image-1", "image_generate", "size: 64x80\noutput_format: webp\n",
                    "webp", (64, 80)),
    "openai-png": ("gpt-image-1", "image_generate", "size: 72x40\n", "png", (72, 40)),
    "ark-jpeg": ("doubao-seedream-4-0", "ark_image", "size: 80x48\n", "jpeg", (80, 48)),
    "ark-png": ("doubao-seedream-4-0", "ark_image", "size: 48x80\noutput_format: png\n",
                "png", (48, 80)),
    "gemini": ("gemini-2.5-flash-image", "gemini_image", "size: 1K\n", "png", (1024, 1024)),
}


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_pictures_arrive_exactly(mounts, sim, case, n):
    model, counter, front, fmt, size = CASES[case]
    m = mounts()
    prompt = f"a lighthouse at dawn, {case}"
    write(img(m, "shot.txt"), f"---\nmodel: {model}\nn: {n}\n{front}---\n{prompt}\n")
    # the simulator answers at once: close() returned after the pictures
    assert status(m, "shot") == "completed"
    assert counts(sim) == only(counter)
    assert_pictures(m, sim, "shot", n, fmt, size)
    sent = json.loads(read(img(m, "shot", "request.json")))  # in OpenAI's shape
    assert sent["model"] == model and sent["prompt"] == prompt and sent["n"] == n
    (got,) = received(sim)
    fields = got["fields"]
    if counter == "image_generate":
        assert got["route"] == "/v1/images/generations"
        assert fields["n"] == n and fields["model"] == model
    elif counter == "ark_image":
        assert got["route"] == "/api/v3/images/generations"
        if n > 1:
            assert fields["sequential_image_generation"] == "auto"
            assert fields["sequential_image_generation_options"] == {"max_images": n}
        else:
            assert fields.get("sequential_image_generation", "disabled") == "disabled"
    else:
        assert got["route"] == "/v1beta/models/generateContent"
        assert fields["generationConfig"].get("candidateCount", 1) == n
    answer = read(img(m, "shot", "status.json"))
    assert "iVBOR" not in answer and "/9j/" not in answer  # no base64 kept
    # nothing more is sent, whatever is read
    for entry in os.listdir(img(m, "shot")):
        read(img(m, "shot", entry), "rb")
    time.sleep(0.5)
    assert counts(sim) == only(counter)
    assert sim.stats()["unauthorized"] == 0


@pytest.mark.parametrize("model, size, fmt, width", [
    ("doubao-seedream-4-0", "1K", "jpeg", 1024), ("gemini-2.5-flash-image", "1K", "png", 1024),
    ("gpt-image-1", "auto", "png", 1024)])
def test_size_words(mounts, sim, model, size, fmt, width):
    m = mounts()
    write(img(m, "w.txt"), f"---\nmodel: {model}\nsize: {size}\n---\na square\n")
    assert status(m, "w") == "completed"
    assert json.loads(read(img(m, "w", "request.json")))["size"] == size
    assert_pictures(m, sim, "w", 1, fmt, (width, width))


def test_url_answer_is_fetched_without_the_token(mounts, sim):
    m = mounts()
    write(img(m, "old.txt"), "---\nmodel: dall-e-2\nsize: 256x256\n---\nan old camera\n")
    assert status(m, "old") == "completed"
    assert_pictures(m, sim, "old", 1, "png", (256, 256))
    r = sim.requests()
    assert r["image_generate"] == 1 and r["image_file"] == 1
    assert sim.stats()["bearer_on_presigned"] == 0


def test_revised_prompt(mounts, sim):
    m = mounts()
    write(img(m, "rev.txt"), "---\nmodel: dall-e-3\nsize: 1024x1024\n"
          "response_format: b64_json\n---\na red kite\n")
    assert status(m, "rev") == "completed"
    assert read(img(m, "rev", "revised_prompt")) == "A detailed picture of a red kite\n"
    assert_pictures(m, sim, "rev", 1, "png", (1024, 1024))


def test_no_revised_prompt_where_the_api_gives_none(mounts, sim):
    m = mounts()
    write(img(m, "plain.txt"), "---\nsize: 32x32\n---\na plain square\n")
    assert status(m, "plain") == "completed"
    assert not os.path.exists(img(m, "plain", "revised_prompt"))
    assert json.loads(read(img(m, "plain", "request.json")))["model"] == "gpt-image-1"


# --- routing and options ---------------------------------------------------

def test_image_model_and_routes(mounts, sim):
    m = mounts("image_model=doubao-seedream-4-0,image_routes=house-*=gemini:dall-e-9=ark")
    write(img(m, "dflt.txt"), "---\nsize: 40x40\n---\nthe default model\n")
    assert status(m, "dflt") == "completed"
    assert json.loads(read(img(m, "dflt", "request.json")))["model"] == "doubao-seedream-4-0"
    assert counts(sim) == only("ark_image")
    write(img(m, "house.txt"), "---\nmodel: house-painter\n---\na house\n")
    assert status(m, "house") == "completed"
    assert received(sim)[-1]["route"] == "/v1beta/models/generateContent"
    write(img(m, "nine.txt"), "---\nmodel: dall-e-9\nsize: 40x40\n---\nnine\n")
    assert status(m, "nine") == "completed"
    assert received(sim)[-1]["route"] == "/api/v3/images/generations"
    write(img(m, "other.txt"), "---\nmodel: someone-elses-model\nsize: 40x40\n---\nother\n")
    assert status(m, "other") == "completed"
    assert received(sim)[-1]["route"] == "/v1/images/generations"
    assert counts(sim) == {"image_generate": 1, "image_edit": 0, "ark_image": 2,
                           "gemini_image": 1}


@pytest.mark.parametrize("option", ["image_wait=601", "image_wait=-1", "image_wait=soon",
                                    "image_routes=x*=sora", "image_routes=nothing",
                                    "image_model=", "gemini_auth=cookie"])
def test_bad_image_option_stops_the_mount(mounts, sim, option):
    with pytest.raises(RuntimeError):
        mounts(option)
    assert sim.api_total() == 0


def test_root_lists_images_after_videos(mounts, sim):
    m = mounts()
    names = os.listdir(m.mnt)
    assert names.index("images") == names.index("videos") + 1
    assert stat.S_IMODE(os.stat(img(m)).st_mode) == 0o755
    assert stat.S_ISDIR(os.stat(img(m)).st_mode)
    assert os.listdir(img(m)) == []


# --- edits -----------------------------------------------------------------

def described(request_json):
    """Every input picture request.json describes, by its file name."""
    found = {}

    def walk(v):
        if isinstance(v, dict):
            if "sha256" in v and "file" in v:
                found[v["file"]] = v
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(request_json)
    return found


def description(file, data, width, height):
    return {"file": file, "type": "image/png", "size": len(data), "sha256": sha256(data),
            "width": width, "height": height}


@pytest.mark.parametrize("inputs", ["one", "two", "mask"])
def test_edits_send_each_file_exactly(mounts, sim, inputs):
    m = mounts()
    a, b = png(64, 48, 0xff0000ff), png(32, 32, 0x00ff00ff)
    mask = png(64, 48, 0x00000000, alpha=True)
    write(img(m, "a.png"), a, "wb")
    write(img(m, "b.png"), b, "wb")
    write(img(m, "m.png"), mask, "wb")
    front = {"one": "image: a.png\n", "two": "image: a.png, b.png\n",
             "mask": "image: a.png\nmask: m.png\n"}[inputs]
    write(img(m, "edit.txt"), f"---\n{front}---\nmake it blue\n")
    assert status(m, "edit") == "completed"
    assert counts(sim) == only("image_edit")
    (got,) = received(sim)
    assert got["route"] == "/v1/images/edits"
    assert got["fields"]["prompt"] == "make it blue"
    want = {"one": [("image", "a.png", a)], "two": [("image[]", "a.png", a),
                                                   ("image[]", "b.png", b)],
            "mask": [("image", "a.png", a), ("mask", "m.png", mask)]}[inputs]
    files = got["files"]
    assert [(f["field"], f["filename"]) for f in files] == [(w[0], w[1]) for w in want]
    for f, (_, _, data) in zip(files, want):
        assert f["sha256"] == sha256(data) and f["size"] == len(data)
        assert f["type"] == "image/png" and f["content_type"] == "image/png"
    sent = read(img(m, "edit", "request.json"))
    assert "base64" not in sent and "iVBOR" not in sent
    want_desc = {"a.png": description("a.png", a, 64, 48)}
    if inputs == "two":
        want_desc["b.png"] = description("b.png", b, 32, 32)
    if inputs == "mask":
        want_desc["m.png"] = description("m.png", mask, 64, 48)
    assert described(json.loads(sent)) == want_desc
    # the edit is as big as its first picture (the API's default size)
    assert_pictures(m, sim, "edit", 1, "png", (64, 48))
    # the scratch files are kept, never sent as prompts
    assert read(img(m, "a.png"), "rb") == a


def test_a_completed_picture_as_input(mounts, sim):
    m = mounts()
    write(img(m, "first.txt"), "---\nsize: 48x48\n---\na blue square\n")
    assert status(m, "first") == "completed"
    first = read(img(m, "first", "image.png"), "rb")
    write(img(m, "second.txt"), "---\nimage: first/image.png\n---\nnow red\n")
    assert status(m, "second") == "completed"
    assert counts(sim) == {"image_generate": 1, "image_edit": 1, "ark_image": 0,
                           "gemini_image": 0}
    files = received(sim)[-1]["files"]
    assert [(f["field"], f["sha256"], f["size"]) for f in files] == \
        [("image", sha256(first), len(first))]
    assert described(json.loads(read(img(m, "second", "request.json")))) == \
        {"first/image.png": description("first/image.png", first, 48, 48)}


def test_an_input_by_absolute_path(mounts, sim, tmp_path):
    m = mounts()
    a = png(40, 24, 0x884422ff)
    (tmp_path / "abs.png").write_bytes(a)
    write(img(m, "abs.txt"), f"---\nimage: {tmp_path}/abs.png\n---\nmake it green\n")
    assert status(m, "abs") == "completed"
    (got,) = received(sim)
    assert [(f["field"], f["sha256"], f["size"]) for f in got["files"]] == \
        [("image", sha256(a), len(a))]
    assert_pictures(m, sim, "abs", 1, "png", (40, 24))


@pytest.mark.parametrize("model, counter", [("doubao-seedream-4-0", "ark_image"),
                                            ("gemini-2.5-flash-image", "gemini_image")])
def test_references_of_ark_and_gemini(mounts, sim, model, counter):
    """Ark takes them as data URLs, Gemini as inlineData parts."""
    m = mounts()
    a, b = png(40, 40, 0xffff00ff), png(24, 56, 0x00ffffff)
    write(img(m, "a.png"), a, "wb")
    write(img(m, "b.png"), b, "wb")
    write(img(m, "ref.txt"), f"---\nmodel: {model}\nimage: a.png, b.png\n---\n"
          "the two together\n")
    assert status(m, "ref") == "completed"
    assert counts(sim) == only(counter)
    (got,) = received(sim)
    assert [(f["sha256"], f["size"], f["type"]) for f in got["files"]] == \
        [(sha256(a), len(a), "image/png"), (sha256(b), len(b), "image/png")]
    sent = read(img(m, "ref", "request.json"))
    assert "base64" not in sent and "iVBOR" not in sent
    assert described(json.loads(sent)) == {"a.png": description("a.png", a, 40, 40),
                                           "b.png": description("b.png", b, 24, 56)}


def test_a_mask_without_a_picture_is_refused_before_sending(mounts, sim):
    m = mounts()
    write(img(m, "m.png"), png(8, 8, 0, alpha=True), "wb")
    assert close_fails(img(m, "nomask.txt"), "---\nmask: m.png\n---\nedit what\n") == \
        errno.EINVAL
    assert status(m, "nomask").startswith("rejected ")
    assert counts(sim) == only("image_generate", 0)


def test_a_missing_input_is_refused_before_sending(mounts, sim):
    m = mounts()
    assert close_fails(img(m, "lost.txt"), "---\nimage: nowhere.png\n---\nedit it\n") == \
        errno.EINVAL
    assert "nowhere.png" in read(img(m, "lost", "error"))
    assert counts(sim) == only("image_generate", 0)


# --- refusals --------------------------------------------------------------

REFUSALS = {
    # model, size, counter, what status says, what error holds
    "openai": ("gpt-image-1", "size: 32x32\n", "image_generate", "rejected moderation_blocked: ",
               SAFETY),
    "ark": ("doubao-seedream-4-0", "size: 32x32\n", "ark_image",
            "rejected InputTextSensitiveContentDetected: ", ""),
    "gemini": ("gemini-2.5-flash-image", "", "gemini_image", "rejected ",
               "PROHIBITED_CONTENT"),
}


@pytest.mark.parametrize("api", list(REFUSALS))
def test_moderation_refusal(mounts, sim, api):
    model, size, counter, line, why = REFUSALS[api]
    m = mounts()
    p = img(m, "bad.txt")
    assert close_fails(p, f"---\nmodel: {model}\n{size}---\na cat #reject\n") == \
        errno.EINVAL
    assert status(m, "bad").startswith(line)
    assert why in read(img(m, "bad", "error"))
    assert pictures(m, "bad") == []
    images_cache = os.path.join(m.cache, "images")
    assert not [n for _, _, names in os.walk(images_cache) for n in names]
    assert counts(sim) == only(counter)
    # the name is free: the fixed prompt is sent
    assert stat.S_IMODE(os.stat(p).st_mode) & 0o200
    assert close_fails(p, f"---\nmodel: {model}\n{size}---\na cat\n") is None
    assert status(m, "bad") == "completed"
    assert not os.path.exists(img(m, "bad", "error"))
    assert counts(sim) == only(counter, 2)
    assert len(pictures(m, "bad")) == 1


def test_refusal_by_shell_shows_in_status(mounts, sim):
    # a shell ignores close(); the refusal is still there to read
    m = mounts()
    subprocess.run(["sh", "-c", 'echo "$1" > "$2"', "-", "a dog #reject", img(m, "sh.txt")])
    assert status(m, "sh").startswith("rejected moderation_blocked: ")
    assert counts(sim) == only("image_generate")


@pytest.mark.parametrize("fault, code", [("429", errno.EAGAIN), ("5xx:status=503", errno.EIO)])
def test_api_errors_are_errnos(mounts, sim, fault, code):
    m = mounts()
    sim.fault(fault + ("," if ":" in fault else ":") + "call=image_generate")
    p = img(m, "err.txt")
    assert close_fails(p, "---\nsize: 16x16\n---\na small thing\n") == code
    assert status(m, "err").startswith("rejected ")
    assert pictures(m, "err") == []
    tries = sim.requests()["image_generate"]
    assert tries >= 1
    sim.clear_faults()
    assert close_fails(p, "---\nsize: 16x16\n---\na small thing\n") is None
    assert status(m, "err") == "completed"
    assert sim.requests()["image_generate"] == tries + 1


# --- durability ------------------------------------------------------------

def test_kill_9_in_flight_is_unknown_and_never_resent(mounts, sim):
    sim.fault("hang_create:call=image_generate")
    m = mounts("image_wait=0")
    p = img(m, "lost.txt")
    write(p, "---\nsize: 32x32\n---\na ship in fog\n")
    wait_for(lambda: sim.requests()["image_generate"] == 1, what="the request")
    wait_status(m, "lost", "in_progress")
    kill9(m)
    sim.clear_faults()
    m.start()
    assert status(m, "lost") == UNKNOWN
    assert read(img(m, "lost", "error")).strip()
    assert pictures(m, "lost") == []
    time.sleep(3)
    assert status(m, "lost") == UNKNOWN
    assert counts(sim) == only("image_generate")
    # a new take needs a new name
    with pytest.raises(OSError) as e:
        open(p, "w")
    assert e.value.errno == errno.EACCES
    write(img(m, ".scratch"), "again")
    with pytest.raises(OSError) as e:
        os.rename(img(m, ".scratch"), p)
    assert e.value.errno == errno.EACCES
    assert counts(sim) == only("image_generate")
    write(img(m, "lost-2.txt"), "---\nsize: 32x32\n---\na ship in fog\n")
    wait_status(m, "lost-2", "completed")
    assert counts(sim) == only("image_generate", 2)


@pytest.mark.parametrize("fault", ["cut:after=100", "drop_create"])
def test_a_lost_answer_is_unknown_and_never_resent(mounts, sim, fault):
    sim.fault(fault + ("," if ":" in fault else ":") + "call=image_generate")
    m = mounts("image_wait=0")
    p = img(m, "cut.txt")
    write(p, "---\nsize: 64x64\n---\na kite in the wind\n")
    wait_status(m, "cut", UNKNOWN, timeout=15)
    assert status(m, "cut") == UNKNOWN
    assert read(img(m, "cut", "error")).strip()
    assert pictures(m, "cut") == []
    sim.clear_faults()
    time.sleep(2)
    assert counts(sim) == only("image_generate")
    with pytest.raises(PermissionError):
        open(p, "w")
    remount(m)
    assert status(m, "cut") == UNKNOWN
    time.sleep(1)
    assert counts(sim) == only("image_generate")


def test_kill_9_after_the_answer_never_sends_again(mounts, sim):
    m = mounts("image_wait=0")
    delays = (0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.3)
    outcomes = []
    for i, delay in enumerate(delays):
        name = f"take{i}"
        write(img(m, name + ".txt"), f"---\nsize: 512x512\n---\n#noise a storm, take {i}\n")
        wait_for(lambda: sim.requests()["image_generate"] == i + 1, what="the request",
                 interval=0.001)
        time.sleep(delay)
        kill9(m)
        m.start()
        line = status(m, name)
        if line == "completed":
            assert_pictures(m, sim, name, 1, "png", (512, 512))
        else:
            assert line == UNKNOWN, line
            assert pictures(m, name) == []
        outcomes.append(line)
    time.sleep(2)
    assert counts(sim) == only("image_generate", len(delays))
    print("outcomes:", outcomes)


def test_completed_pictures_survive_a_remount(mounts, sim):
    m = mounts()
    write(img(m, "keep.txt"), "---\nn: 2\nsize: 40x30\n---\nkept\n")
    before = assert_pictures(m, sim, "keep", 2, "png", (40, 30))
    remount(m)
    assert status(m, "keep") == "completed"
    assert assert_pictures(m, sim, "keep", 2, "png", (40, 30)) == before
    kill9(m)
    m.start()
    assert assert_pictures(m, sim, "keep", 2, "png", (40, 30)) == before
    assert counts(sim) == only("image_generate")


@pytest.mark.sim("--image-url-ttl", "0", token=TOKEN)
def test_expired_url_is_failed(mounts, sim):
    m = mounts("image_wait=0")
    write(img(m, "late.txt"), "---\nmodel: dall-e-2\nsize: 256x256\n---\na late train\n")
    line = wait_status(m, "late", "failed ")
    assert "expired" in read(img(m, "late", "error")).lower(), read(img(m, "late", "error"))
    assert pictures(m, "late") == []
    r = sim.requests()
    assert r["image_generate"] == 1 and r["image_file"] >= 1
    time.sleep(1)
    assert status(m, "late") == line
    assert sim.requests()["image_generate"] == 1


# --- everyday tools --------------------------------------------------------

def src_file(tmp_path, name):
    p = tmp_path / "src" / name
    p.parent.mkdir(exist_ok=True)
    p.write_text("---\nsize: 24x24\n---\n" + TEXT + "\n")
    return str(p)


PROMPT = "---\nsize: 24x24\n---\n" + TEXT + "\n"

TOOLS = {
    "echo": (lambda m, tmp, p: subprocess.check_call(
        ["sh", "-c", 'echo "$1" > "$2"', "-", PROMPT.rstrip("\n"), p]), "sh"),
    "printf": (lambda m, tmp, p: subprocess.check_call(
        ["bash", "-c", 'printf "%s" "$1" > "$2"', "-", PROMPT, p]), "bash"),
    "cp": (lambda m, tmp, p: subprocess.check_call(["cp", src_file(tmp, "cp.txt"), p]), None),
    "rsync": (lambda m, tmp, p: subprocess.check_call(
        ["rsync", src_file(tmp, "rs.txt"), p]), "rsync"),
    "python": (lambda m, tmp, p: write(p, PROMPT), None),
    "vim": (lambda m, tmp, p: vim(p), "vim"),
}


@pytest.mark.parametrize("tool", list(TOOLS))
def test_each_tool_sends_one_request(mounts, sim, tmp_path, tool):
    func, program = TOOLS[tool]
    if program and not have(program):
        pytest.skip(f"{program} is not installed")
    m = mounts()
    p = img(m, f"t-{tool}.txt")
    func(m, tmp_path, p)
    name = f"t-{tool}"
    assert counts(sim) == only("image_generate")
    assert json.loads(read(img(m, name, "request.json")))["prompt"] == TEXT
    wait_status(m, name, "completed", timeout=10)
    assert len(pictures(m, name)) == 1
    time.sleep(0.5)
    assert counts(sim) == only("image_generate")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o444
    with pytest.raises(PermissionError):
        open(p, "a")


def test_scratch_files_and_drafts_are_never_sent(mounts, sim):
    m = mounts()
    for name in ("notes", "x.txt~", ".x.txt.swp", "4913", "cat.png", ".hidden.txt"):
        write(img(m, name), "scratch " + name)
        assert read(img(m, name)) == "scratch " + name
    open(img(m, "draft.txt"), "w").close()
    assert counts(sim) == only("image_generate", 0)
    assert not os.path.exists(img(m, "draft"))
    write(img(m, "draft.txt"), "---\nsize: 16x16\n---\nno longer a draft\n")
    assert status(m, "draft") == "completed"
    assert counts(sim) == only("image_generate")


def test_write_and_close_time_checks(mounts, sim):
    m = mounts()
    fd = os.open(img(m, "big.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    with pytest.raises(OSError) as e:
        os.write(fd, b"x" * (33 << 10))
    assert e.value.errno == errno.EFBIG
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.EFBIG
    fd = os.open(img(m, "nul.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    with pytest.raises(OSError) as e:
        os.write(fd, b"a \0 nul")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        os.close(fd)
    assert close_fails(img(m, "bad.json"), '{"prompt": "unclosed"') == errno.EINVAL
    assert close_fails(img(m, "fm.txt"), "---\nsize: huge\n---\nwhat size\n") == \
        errno.EINVAL
    assert status(m, "fm").startswith("rejected ")
    assert "size" in read(img(m, "fm", "error"))
    assert counts(sim) == only("image_generate", 0)
    # each is free to fix and save
    write(img(m, "fm.txt"), "---\nsize: 16x16\n---\nwhat size\n")
    assert status(m, "fm") == "completed"
    assert counts(sim) == only("image_generate")


def test_status_json_keeps_no_base64(mounts, sim):
    m = mounts()
    write(img(m, "three.txt"), "---\nn: 3\nsize: 16x16\n---\nthree dots\n")
    answer = json.loads(read(img(m, "three", "status.json")))
    marks = [d["b64_json"] for d in answer["data"]]
    assert len(marks) == 3 and len(set(marks)) == 3
    assert all(re.fullmatch(r"@[0-9]+", x) for x in marks), marks
    assert os.stat(img(m, "three", "status.json")).st_size == \
        len(read(img(m, "three", "status.json"), "rb"))


def test_unmount_while_in_flight_loses_the_answer(mounts, sim):
    sim.fault("hang_create:call=image_generate")
    m = mounts("image_wait=0")
    write(img(m, "cut.txt"), "---\nsize: 16x16\n---\na hanging lamp\n")
    wait_for(lambda: sim.requests()["image_generate"] == 1, what="the request")
    # the daemon gives the answer a grace period, then gives up on it
    fusermount_u(m.mnt)
    assert m.proc.wait(30) == 0
    m.err.close()
    m.check_stderr()
    sim.clear_faults()
    m.err_mode = "a"
    m.start()
    assert status(m, "cut") == UNKNOWN
    time.sleep(1)
    assert counts(sim) == only("image_generate")


def test_other_prompt_file_of_a_job_is_ebusy(mounts, sim):
    m = mounts()
    write(img(m, "stem.txt"), "---\nsize: 16x16\n---\nthe first take\n")
    ident = read(img(m, "stem", "id"))
    assert close_fails(img(m, "stem.json"), '{"prompt": "another take"}') == errno.EBUSY
    assert read(img(m, "stem", "id")) == ident
    assert counts(sim) == only("image_generate")


def test_a_video_job_and_an_image_job_of_one_name(mounts, sim):
    m = mounts()
    write(m.path("jobs", "same.txt"), "a video of the sea")
    write(img(m, "same.txt"), "---\nsize: 16x16\n---\na picture of the sea\n")
    assert status(m, "same") == "completed"
    video = read(m.path("jobs", "same", "id")).strip()
    picture = read(img(m, "same", "id")).strip()
    assert video.startswith(sim.id_prefix) and picture != video
    assert truth(sim, picture, 1) == read(img(m, "same", "image.png"), "rb")
    assert json.loads(read(img(m, "same", "request.json")))["prompt"] == "a picture of the sea"
    assert json.loads(read(m.path("jobs", "same", "request.json")))["prompt"] == \
        "a video of the sea"
    assert not os.path.exists(m.path("jobs", "same", "image.png"))
    assert sim.requests()["create"] == 1
    assert counts(sim) == only("image_generate")


def test_json_prompt_file(mounts, sim):
    m = mounts()
    write(img(m, "j.json"), json.dumps({"prompt": "a json picture", "size": "20x30",
                                        "output_format": "webp"}))
    assert status(m, "j") == "completed"
    assert_pictures(m, sim, "j", 1, "webp", (20, 30))
    sent = json.loads(read(img(m, "j", "request.json")))
    assert sent["model"] == "gpt-image-1" and "seconds" not in sent


# --- when close() returns --------------------------------------------------

def test_close_waits_at_most_image_wait(mounts, sim):
    sim.fault("hang_create:seconds=5,call=image_generate")
    m = mounts("image_wait=1")
    start = time.monotonic()
    write(img(m, "slow.txt"), "---\nsize: 16x16\n---\na slow snail\n")
    took = time.monotonic() - start
    assert 0.8 <= took < 4, took
    assert status(m, "slow") == "in_progress"
    assert pictures(m, "slow") == []
    wait_status(m, "slow", "completed", timeout=15)
    assert_pictures(m, sim, "slow", 1, "png", (16, 16))
    assert counts(sim) == only("image_generate")


def test_close_with_image_wait_0_returns_at_once(mounts, sim):
    sim.fault("hang_create:seconds=3,call=image_generate")
    m = mounts("image_wait=0")
    start = time.monotonic()
    write(img(m, "quick.txt"), "---\nsize: 16x16\n---\na quick fox\n")
    assert time.monotonic() - start < 2
    assert status(m, "quick") in ("submitting", "in_progress")
    wait_status(m, "quick", "completed", timeout=15)
    assert counts(sim) == only("image_generate")


def test_a_late_refusal_shows_in_status(mounts, sim):
    sim.fault("hang_create:seconds=2,call=image_generate")
    m = mounts("image_wait=0")
    p = img(m, "late.txt")
    assert close_fails(p, "---\nsize: 16x16\n---\na cat #reject\n") is None
    wait_status(m, "late", "rejected moderation_blocked: ", timeout=15)
    assert SAFETY in read(img(m, "late", "error"))
    assert pictures(m, "late") == []
    write(p, "---\nsize: 16x16\n---\na cat\n")
    wait_status(m, "late", "completed", timeout=15)
    assert counts(sim) == only("image_generate", 2)


# --- watching --------------------------------------------------------------

def test_inotify_sees_the_job_and_its_picture(mounts, sim):
    sim.fault("hang_create:seconds=2,call=image_generate")
    m = mounts("image_wait=0")
    w = Inotifywait(img(m))
    try:
        write(img(m, "owl.txt"), "---\nsize: 16x16\n---\nan owl at night\n")
        d = img(m, "owl")
        wait_status(m, "owl", "completed", timeout=15)
        pic = os.path.join(d, "image.png")
        wait_for(lambda: w.changes(pic, "CREATE") or None, timeout=10, what="image.png CREATE")
        time.sleep(0.6)
        assert w.changes(d, "CREATE") == [(d, {"CREATE", "ISDIR"})], w.lines
        assert w.changes(pic, "CREATE") == [(pic, {"CREATE"})], w.lines
        assert w.changes(os.path.join(d, "status"), "MODIFY"), w.lines
    finally:
        w.stop()
    assert counts(sim) == only("image_generate")


def test_poll_on_status_wakes(mounts, sim):
    import select
    sim.fault("hang_create:seconds=2,call=image_generate")
    m = mounts("image_wait=0")
    write(img(m, "bee.txt"), "---\nsize: 16x16\n---\na bee\n")
    fd = os.open(img(m, "bee", "status"), os.O_RDONLY)
    try:
        first = os.pread(fd, 4096, 0).decode()
        assert first.startswith(("submitting", "in_progress"))
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLPRI)
        seen = first
        deadline = time.monotonic() + 15
        while not seen.startswith("completed") and time.monotonic() < deadline:
            if p.poll(1000):
                seen = os.pread(fd, 4096, 0).decode()
        assert seen.startswith("completed")
    finally:
        os.close(fd)


# --- managing --------------------------------------------------------------

def test_read_only_after_submission(mounts, sim):
    m = mounts()
    p = img(m, "ro.txt")
    write(p, "---\nsize: 16x16\n---\nonly once\n")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o444
    refused = [(os.open, p, f) for f in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC,
                                          os.O_WRONLY | os.O_APPEND)]
    refused += [(os.truncate, p, 0), (os.rename, img(m, "ro.txt"), img(m, "ro2.txt"))]
    refused += [(open, img(m, "ro", e), "w") for e in ("status", "image.png", "newfile")]
    for call, *args in refused:
        with pytest.raises(OSError) as e:
            call(*args)
        assert e.value.errno == errno.EACCES, (call, args)
    assert counts(sim) == only("image_generate")


def test_rm_r_forgets_an_image_job(mounts, sim):
    m = mounts()
    write(img(m, "gone.txt"), "---\nsize: 16x16\n---\nto be forgotten\n")
    data = read(img(m, "gone", "image.png"), "rb")
    assert cached(m, data)
    subprocess.check_call(["rm", "-r", img(m, "gone")])
    assert not os.path.exists(img(m, "gone"))
    assert "gone" not in os.listdir(img(m))
    assert os.path.exists(img(m, "gone.txt"))  # the prompt file stays, as in jobs/
    assert cached(m, data) == []
    remount(m)
    assert not os.path.exists(img(m, "gone"))
    assert counts(sim) == only("image_generate")


def test_mv_renames_an_image_job(mounts, sim):
    m = mounts()
    write(img(m, "before.txt"), "---\nsize: 16x16\n---\nrenamed\n")
    ident = read(img(m, "before", "id"))
    data = read(img(m, "before", "image.png"), "rb")
    os.rename(img(m, "before"), img(m, "after"))
    names = os.listdir(img(m))
    assert "before" not in names and "before.txt" not in names
    assert "after" in names and "after.txt" in names
    assert read(img(m, "after", "id")) == ident
    assert read(img(m, "after", "image.png"), "rb") == data
    assert stat.S_IMODE(os.stat(img(m, "after.txt")).st_mode) == 0o444
    remount(m)
    assert read(img(m, "after", "image.png"), "rb") == data
    assert not os.path.exists(img(m, "before"))
    # nothing moves between images/ and jobs/, by rename or by mv's copy
    with pytest.raises(OSError) as e:
        os.rename(img(m, "after"), m.path("jobs", "after"))
    assert e.value.errno in (errno.EACCES, errno.EXDEV)
    r = subprocess.run(["mv", img(m, "after"), m.path("jobs", "after")],
                       stderr=subprocess.DEVNULL)
    assert r.returncode != 0
    assert read(img(m, "after", "image.png"), "rb") == data
    assert not os.path.exists(m.path("jobs", "after"))
    assert counts(sim) == only("image_generate")
    assert sim.requests()["create"] == 0


# --- Gemini ----------------------------------------------------------------

@pytest.mark.parametrize("auth, header", [("", "bearer"), ("gemini_auth=bearer", "bearer"),
                                          ("gemini_auth=key", "x-goog-api-key")])
def test_gemini_token_in_a_header(mounts, sim, auth, header):
    """The simulator refuses a key in the URL (?key=) and wants the token:
    the request goes through, once, with the token where it was asked to be
    (a bearer for any host but Google's own, by default)."""
    m = mounts(auth)
    write(img(m, "g.txt"), "---\nmodel: gemini-2.5-flash-image\n---\na green field\n")
    assert status(m, "g") == "completed"
    assert counts(sim) == only("gemini_image")
    assert sim.stats()["unauthorized"] == 0
    (got,) = received(sim)
    assert got["fields"]["auth"] == header
    ident = read(img(m, "g", "id")).strip()
    answer = json.loads(read(img(m, "g", "status.json")))
    assert answer["responseId"] == ident
    assert TOKEN not in read(img(m, "g", "request.json"))
    assert TOKEN not in read(img(m, "g", "status.json"))


def test_a_big_base64_answer(mounts, sim):
    """A 2048x2048 noise PNG is some 12 MB, 16 MB as base64 in the JSON:
    more than the client's JSON cap, decoded as it streams."""
    m = mounts()
    write(img(m, "big.txt"), "---\nsize: 2048x2048\n---\n#noise a forest\n")
    wait_status(m, "big", "completed", timeout=60)
    data = assert_pictures(m, sim, "big", 1, "png", (2048, 2048))[0]
    assert len(data) > 8 << 20
    assert counts(sim) == only("image_generate")

