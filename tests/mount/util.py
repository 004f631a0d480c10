"""Helpers for the mounted tests: the simulator, the mount, and their cleanup.

In the manner of libfuse's and sshfs's test/util.py: wait_for_mount polls
every 0.1 s and gives up after 30 s (at once if the daemon died), cleanup
unmounts lazily and stops the daemon, umount wants a clean exit.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zlib

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("VIDEOFS_BUILD", os.path.join(TOP, "build")))
VIDEOFS = os.path.join(BUILD, "fs", "videofs")
SIM = os.path.join(BUILD, "sim", "videofs-sim")
# VIDEOFS_VALGRIND=1 runs every mount under valgrind (a leak or a bad read
# makes it exit 99, which the strict umount catches).
VALGRIND = bool(os.environ.get("VIDEOFS_VALGRIND"))

# What must never appear on the daemon's stderr.
BAD_OUTPUT = re.compile(
    r"WARNING|CRITICAL|\bERROR\b|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer"
    r"|runtime error:|Invalid read|Invalid write|definitely lost|uninitialised"
    r"|\*\*:",  # GLib's mark of a warning, critical or error: fatal under G_DEBUG
)

PR_SET_CHILD_SUBREAPER = 36

VARIANTS = (("video.mp4", "video"), ("thumbnail.webp", "thumbnail"),
            ("spritesheet.jpg", "spritesheet"))


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_for_mount(proc, mnt, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        if os.path.ismount(mnt):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"videofs exited with {proc.returncode} before mounting")
        if time.monotonic() > deadline:
            raise TimeoutError("videofs did not mount within %.0f s" % timeout)
        time.sleep(0.1)


def adopt_orphans(on=True):
    """While on, a daemon that goes to the background becomes a child of this
    process, so wait_exit() can read its exit status: its stderr is
    /dev/null by then, and a GLib fatal log shows only as a SIGTRAP."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def wait_exit(pid, timeout=10.0):
    """The exit status of an adopted daemon, as Popen.returncode gives it
    (-5 for the SIGTRAP of a GLib fatal log)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            raise TimeoutError(f"daemon {pid} did not exit within {timeout:.0f} s")
        time.sleep(0.05)


def cleanup(proc, mnt):
    """Takes the mount down whatever state it is in."""
    subprocess.call(["fusermount3", "-u", "-z", "-q", mnt],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fusermount_u(mnt):
    """fusermount3 -u, which must work within a second: while the mount
    announces a burst of changes to inotify, an unmount can find it busy, as
    the man page says."""
    deadline = time.monotonic() + 1.0
    while True:
        r = subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.PIPE, text=True)
        if r.returncode == 0:
            break
        assert "busy" in r.stderr and time.monotonic() < deadline, r.stderr
        time.sleep(0.05)


def umount(proc, mnt):
    """The strict way down: fusermount3 -u must work and videofs exit 0."""
    fusermount_u(mnt)
    assert not os.path.ismount(mnt)
    code = proc.wait(10)
    assert code == 0, f"videofs exited with {code}"


def write_journal(state_dir, records):
    """A state dir whose journal holds `records` (dicts), framed as
    lib/journal.c frames them: u32 length, u32 CRC-32, JSON, newline."""
    os.makedirs(os.path.join(state_dir, "files"), mode=0o700, exist_ok=True)
    path = os.path.join(state_dir, "journal")
    with open(path, "wb") as f:
        f.write(b"videofs-journal 1\n")
        for record in records:
            payload = json.dumps(record, separators=(",", ":")).encode()
            f.write(struct.pack("<II", len(payload), zlib.crc32(payload)) + payload + b"\n")
    os.chmod(path, 0o600)


def job_record(name, video, prompt, sizes=None):
    """The record of a job saved as NAME.txt whose answer is `video`, as the
    mount writes it at compaction; `sizes` (video, thumbnail, spritesheet,
    last frame; -1 absent) as learnt at completion, else not yet learnt."""
    created = video["created_at"]
    return {"op": "job", "name": name, "prompt_file": name + ".txt", "prompt_data": prompt,
            "phase": "live", "protocol": "openai", "id": video["id"],
            "body": {"model": video["model"], "prompt": prompt, "seconds": video["seconds"],
                     "size": video["size"]},
            "created": created, "intent_us": created * 1000000, "task": video,
            "changed_us": created * 1000000, "sizes": list(sizes or [-1, -1, -1, -1]),
            "probed": sizes is not None, "expired": False}


class Sim:
    """A videofs-sim on a free port, with its control endpoints."""

    timeout = 10  # seconds for each call()

    def __init__(self, *args, token=None, env=None):
        self.args = ["--port", "0", *args]
        # a gateway (--style newapi) lists nothing: tests read its truth
        # from /_sim/videos
        self.newapi = "newapi" in args
        self.id_prefix = "task_" if self.newapi else "video_"
        # (file, variant) a finished job shows: a gateway's content proxy
        # answers the MP4 for every variant, so there only the video is
        self.variants = VARIANTS[:1] if self.newapi else VARIANTS
        if token:
            self.args += ["--token", token]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([SIM, *self.args], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"videofs-sim did not start: {line!r}")
        self.url = line
        self.base = line[: -len("/v1")]

    def call(self, method, path, body=None, headers=None, token=None):
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stats(self):
        status, body = self.call("GET", "/_sim/stats")
        assert status == 200
        return json.loads(body)

    def requests(self):
        """The API requests served so far (control calls left out)."""
        r = dict(self.stats()["requests"])
        r.pop("control", None)
        return r

    def api_total(self):
        return sum(self.requests().values())

    def reset(self):
        assert self.call("POST", "/_sim/stats/reset")[0] == 200

    def fault(self, spec):
        status, body = self.call("POST", "/_sim/faults", spec, {"Content-Type": "text/plain"})
        assert status == 200, body

    def clear_faults(self):
        assert self.call("DELETE", "/_sim/faults")[0] == 200

    def complete(self, job_id):
        assert self.call("POST", f"/_sim/jobs/{job_id}/complete")[0] == 200

    def expire(self, job_id):
        assert self.call("POST", f"/_sim/jobs/{job_id}/expire")[0] == 200

    def gateway(self):
        """What the gateway's content proxy was asked (--style newapi)."""
        status, body = self.call("GET", "/_sim/gateway")
        assert status == 200
        return json.loads(body)

    def truth(self, job_id, variant="video"):
        status, body = self.call("GET", f"/_sim/truth/{job_id}?variant={variant}")
        assert status == 200
        return body

    def seed(self, count, prompt="a seeded job", state="queued"):
        """`count` Sora jobs the simulator knows, made without creates."""
        self.timeout = max(self.timeout, count / 100)
        status, body = self.call("POST", "/_sim/jobs", json.dumps(
            {"count": count, "prompt": prompt, "state": state}),
            {"Content-Type": "application/json"})
        assert status == 200, body
        return json.loads(body)["data"]

    def create(self, prompt, token="t"):
        """A job made on the account behind the mount's back."""
        status, body = self.call("POST", "/v1/videos", json.dumps({"prompt": prompt}),
                                 {"Content-Type": "application/json"}, token=token)
        assert status == 200, body
        return json.loads(body)

    def jobs(self, token="t"):
        """Every job the account has, newest first, through every page."""
        jobs, after = [], None
        while True:
            path = ("/_sim/videos" if self.newapi else "/v1/videos") + "?limit=100"
            path += f"&after={after}" if after else ""
            status, body = self.call("GET", path, token=token)
            assert status == 200, body
            page = json.loads(body)
            jobs += page["data"]
            if not page["has_more"]:
                return jobs
            after = page["last_id"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


class Mount:
    """videofs -f on a fresh mount point, with its own state and cache dirs."""

    err_mode = "w"  # "a": a restart keeps what the daemon said before

    def __init__(self, tmp, url, options="", token="test-token", env=None, start=True,
                 state_dir=None):
        self.tmp = str(tmp)
        self.mnt = os.path.join(self.tmp, "mnt")
        self.state = state_dir or os.path.join(self.tmp, "state")
        self.cache = os.path.join(self.tmp, "cache")
        os.makedirs(self.mnt, exist_ok=True)
        opts = f"endpoint={url},state_dir={self.state},cache_dir={self.cache}"
        if options:
            opts += "," + options
        self.env = daemon_env(self.tmp, token)
        if env:
            self.env.update(env)
        self.args = ["-f", "-o", opts, self.mnt]
        self.errpath = os.path.join(self.tmp, f"videofs-{time.monotonic_ns()}.err")
        self.proc = None
        if start:
            self.start()

    def start(self):
        self.cmd = [VIDEOFS, *self.args]
        if VALGRIND:
            self.cmd = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                        "--errors-for-leak-kinds=definite",
                        "--suppressions=" + os.path.join(TOP, "tests", "valgrind.supp"),
                        *self.cmd]
        self.err = open(self.errpath, self.err_mode)
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        try:
            wait_for_mount(self.proc, self.mnt)
        except Exception:
            cleanup(self.proc, self.mnt)
            raise

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.errpath) as f:
            return f.read()

    def check_stderr(self, allow=None):
        text = self.stderr()
        for line in text.splitlines():
            if allow and re.search(allow, line):
                continue
            assert not BAD_OUTPUT.search(line), f"daemon said: {line}"

    def umount(self):
        umount(self.proc, self.mnt)
        self.err.close()

    def cleanup(self):
        cleanup(self.proc, self.mnt)
        self.err.close()


def daemon_env(tmp, token="test-token"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIDEOFS_TOKEN", "OPENAI_API_KEY")}
    env["XDG_CONFIG_HOME"] = os.path.join(str(tmp), "config")
    env["XDG_STATE_HOME"] = os.path.join(str(tmp), "xdg-state")
    env["XDG_CACHE_HOME"] = os.path.join(str(tmp), "xdg-cache")
    env["G_DEBUG"] = "fatal-warnings"
    supp = "suppressions=" + os.path.join(TOP, "tests", "lsan.supp")
    env["LSAN_OPTIONS"] = ":".join(filter(None, [env.get("LSAN_OPTIONS"), supp]))
    if token is not None:
        env["VIDEOFS_TOKEN"] = token
    return env


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def status_of(mount, name):
    return read(mount.path("jobs", name, "status"))


def wait_state(mount, name, prefix, timeout=30.0):
    def check():
        try:
            s = status_of(mount, name)
        except FileNotFoundError:
            return None
        return s if s.startswith(prefix) else None
    return wait_for(check, timeout=timeout, what=f"{name} to be {prefix}")


def run_in_pty(argv, keys=(), timeout=60):
    """Runs an interactive program on a terminal; `keys` are (pause, bytes)
    pairs typed in order.  Returns the exit status and what it printed."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    out = b""

    def drain(seconds):
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    return False
                if not data:
                    return False
                out += data
        return True

    for pause, data in keys:
        drain(pause)
        os.write(fd, data)
    deadline = time.monotonic() + timeout
    while drain(0.1) and time.monotonic() < deadline:
        pass
    _, code = os.waitpid(pid, 0)
    os.close(fd)
    return code, out


def have(program):
    return shutil.which(program) is not None
