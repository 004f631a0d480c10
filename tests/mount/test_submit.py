"""Submitting (contract section 3): every way of saving a file sends exactly one job."""

import errno
import json
import os
import shutil
import stat
import subprocess

import pytest

from util import have, read, run_in_pty, wait_state, write

TEXT = "A lighthouse keeper feeds a cat at dawn"


def creates(sim):
    return sim.requests()["create"]


def sent_prompt(mount, name):
    return json.loads(read(mount.path("jobs", name, "request.json")))["prompt"]


def src_file(tmp_path, name, text=TEXT):
    p = tmp_path / "src" / name
    p.parent.mkdir(exist_ok=True)
    p.write_text(text + "\n")
    return str(p)


def by_echo(mount, tmp_path, name):
    subprocess.check_call(["bash", "-c", 'echo "$1" > "$2"', "-", TEXT,
                           mount.path("jobs", name)])


def by_dash_echo(mount, tmp_path, name):
    subprocess.check_call(["sh", "-c", 'echo "$1" > "$2"', "-", TEXT, mount.path("jobs", name)])


def by_printf(mount, tmp_path, name):
    subprocess.check_call(["bash", "-c", 'printf "%s\\n" "$1" > "$2"', "-", TEXT,
                           mount.path("jobs", name)])


def by_tee(mount, tmp_path, name):
    subprocess.run(["tee", mount.path("jobs", name)], input=TEXT + "\n", text=True,
                   stdout=subprocess.DEVNULL, check=True)


def by_cp(mount, tmp_path, name):
    subprocess.check_call(["cp", src_file(tmp_path, name), mount.path("jobs", name)])


def by_mv(mount, tmp_path, name):
    src = src_file(tmp_path, name)
    subprocess.check_call(["mv", src, mount.path("jobs", name)])
    assert not os.path.exists(src)


def by_rsync(mount, tmp_path, name):
    subprocess.check_call(["rsync", src_file(tmp_path, name), mount.path("jobs", name)])


def by_python(mount, tmp_path, name):
    with open(mount.path("jobs", name), "w") as f:
        f.write(TEXT + "\n")


def by_shutil_copy(mount, tmp_path, name):
    shutil.copy(src_file(tmp_path, name), mount.path("jobs", name))


def vim(path, *settings):
    """vim on a terminal, as a person runs it: its usual save (a test file
    4913, the original renamed to a backup, a new file written) happens
    only outside 'backupskip', which holds /tmp by default."""
    cmd = ["vim", "-u", "NONE", "-i", "NONE", "-N", "-c", "set backupskip="]
    for s in settings:
        cmd += ["-c", s]
    cmd += ["-c", "call setline(1, '%s')" % TEXT, "-c", "wq", path]
    code, out = run_in_pty(cmd)
    assert os.WIFEXITED(code) and os.WEXITSTATUS(code) == 0, out[-500:]


def by_vim_new(mount, tmp_path, name):
    vim(mount.path("jobs", name))


def by_vim_draft(mount, tmp_path, name):
    # an existing (empty) file: vim's default writebackup renames it away first
    open(mount.path("jobs", name), "w").close()
    vim(mount.path("jobs", name))


def by_vim_backup(mount, tmp_path, name):
    open(mount.path("jobs", name), "w").close()
    vim(mount.path("jobs", name), "set backup writebackup")
    assert os.path.exists(mount.path("jobs", name + "~"))


def by_vim_backupcopy(mount, tmp_path, name):
    open(mount.path("jobs", name), "w").close()
    vim(mount.path("jobs", name), "set backup writebackup backupcopy=yes")


def by_vim_ex(mount, tmp_path, name):
    subprocess.run(["vim", "-u", "NONE", "-i", "NONE", "-N", "-E", "-s", "-c",
                    "call setline(1, '%s')" % TEXT, "-c", "wq", mount.path("jobs", name)],
                   check=True, stdin=subprocess.DEVNULL, timeout=60)


def by_nano(mount, tmp_path, name):
    code, out = run_in_pty(["nano", "--ignorercfiles", mount.path("jobs", name)],
                           [(1.0, TEXT.encode()), (0.3, b"\x0f"), (0.5, b"\r"), (1.0, b"\x18")])
    assert os.WIFEXITED(code) and os.WEXITSTATUS(code) == 0, out[-500:]


def by_gio_save(mount, tmp_path, name):
    subprocess.run(["gio", "save", mount.path("jobs", name)], input=TEXT + "\n", text=True,
                   check=True)


def by_gio_save_draft(mount, tmp_path, name):
    # replacing an existing file: GIO writes .goutputstream-XXXXXX and renames it
    open(mount.path("jobs", name), "w").close()
    subprocess.run(["gio", "save", mount.path("jobs", name)], input=TEXT + "\n", text=True,
                   check=True)


def by_gio_copy(mount, tmp_path, name):
    subprocess.check_call(["gio", "copy", src_file(tmp_path, name), mount.path("jobs", name)])


ROUTES = {
    "echo": (by_echo, None),
    "dash-echo": (by_dash_echo, "sh"),
    "printf": (by_printf, None),
    "tee": (by_tee, None),
    "cp": (by_cp, None),
    "mv": (by_mv, None),
    "rsync": (by_rsync, "rsync"),
    "python": (by_python, None),
    "shutil.copy": (by_shutil_copy, None),
    "vim-new": (by_vim_new, "vim"),
    "vim-draft": (by_vim_draft, "vim"),
    "vim-backup": (by_vim_backup, "vim"),
    "vim-backupcopy": (by_vim_backupcopy, "vim"),
    "vim-ex": (by_vim_ex, "vim"),
    "nano": (by_nano, "nano"),
    "gio-save": (by_gio_save, "gio"),
    "gio-save-draft": (by_gio_save_draft, "gio"),
    "gio-copy": (by_gio_copy, "gio"),
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_each_route_sends_exactly_one_job(mount, sim, tmp_path, route):
    func, program = ROUTES[route]
    if program and not have(program):
        pytest.skip(f"{program} is not installed")
    name = "r-" + route.replace(".", "-") + ".txt"
    func(mount, tmp_path, name)
    job = name[:-4]
    assert creates(sim) == 1
    assert sent_prompt(mount, job) == TEXT
    wait_state(mount, job, "completed")
    # nothing more was sent, and the prompt is read-only now
    assert creates(sim) == 1
    assert stat.S_IMODE(os.stat(mount.path("jobs", name)).st_mode) & 0o222 == 0
    assert read(mount.path("jobs", name)).rstrip("\n") == TEXT
    with pytest.raises(PermissionError):
        open(mount.path("jobs", name), "a")


def test_empty_file_is_a_draft(mount, sim):
    p = mount.path("jobs", "draft.txt")
    subprocess.check_call(["touch", p])
    open(p, "w").close()
    with open(p, "w") as f:
        f.write("")
    assert os.path.getsize(p) == 0
    assert creates(sim) == 0
    assert not os.path.exists(mount.path("jobs", "draft"))
    # a draft becomes a job when it gets content
    write(p, "now it is a prompt")
    assert creates(sim) == 1
    assert sent_prompt(mount, "draft") == "now it is a prompt"


def test_scratch_files_are_never_sent(mount, sim):
    for name in ["notes", "x.txt~", ".x.txt.swp", "4913", ".goutputstream-ABC123", ".y.txt.Xa91",
                 "README.md", ".hidden.txt"]:
        write(mount.path("jobs", name), "scratch " + name)
        assert read(mount.path("jobs", name)) == "scratch " + name
        os.truncate(mount.path("jobs", name), 3)
        assert read(mount.path("jobs", name)) == "scr"
    assert creates(sim) == 0
    assert sorted(os.listdir(mount.path("jobs"))) == sorted(
        ["notes", "x.txt~", ".x.txt.swp", "4913", ".goutputstream-ABC123", ".y.txt.Xa91",
         "README.md", ".hidden.txt"])
    os.unlink(mount.path("jobs", "notes"))
    assert "notes" not in os.listdir(mount.path("jobs"))


def test_json_prompt_file(mount, sim):
    body = {"prompt": "a json job", "seconds": "8", "size": "1280x720"}
    write(mount.path("jobs", "j.json"), json.dumps(body))
    sent = json.loads(read(mount.path("jobs", "j", "request.json")))
    assert sent["prompt"] == "a json job"
    assert sent["seconds"] == "8" and sent["size"] == "1280x720"
    assert sent["model"] == "sora-2"  # the default it lacked
    assert creates(sim) == 1


def test_front_matter_and_defaults(mount, sim):
    write(mount.path("jobs", "fm.txt"), "---\nmodel: sora-2-pro\nsize: 1280x720\n---\nwaves\n\n")
    sent = json.loads(read(mount.path("jobs", "fm", "request.json")))
    assert sent == {"model": "sora-2-pro", "prompt": "waves", "seconds": "4", "size": "1280x720"}


def test_close_returns_after_the_answer(mount, sim):
    fd = os.open(mount.path("jobs", "sync.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"answered before close returns")
    assert creates(sim) == 0
    os.close(fd)
    assert creates(sim) == 1
    assert read(mount.path("jobs", "sync", "id")).startswith(sim.id_prefix)


def test_two_writers_one_submission(mount, sim):
    p = mount.path("jobs", "two.txt")
    a = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    b = os.open(p, os.O_WRONLY)
    os.write(a, b"first half, ")
    os.write(b, b"")
    os.pwrite(b, b"second half", 12)
    os.close(a)  # b has written and is still open: not yet
    assert creates(sim) == 0
    os.close(b)
    assert creates(sim) == 1
    assert sent_prompt(mount, "two") == "first half, second half"


def test_dup_closes_send_once(mount, sim):
    p = mount.path("jobs", "dup.txt")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    fd2 = os.dup(fd)
    os.write(fd, b"duplicated descriptor")
    os.close(fd)
    os.close(fd2)
    assert creates(sim) == 1


def test_rename_of_scratch_onto_prompt_submits(mount, sim):
    write(mount.path("jobs", ".tmp-save"), "saved by rename")
    assert creates(sim) == 0
    os.rename(mount.path("jobs", ".tmp-save"), mount.path("jobs", "ren.txt"))
    assert creates(sim) == 1
    assert sent_prompt(mount, "ren") == "saved by rename"
    assert os.listdir(mount.path("jobs")) == ["ren", "ren.txt"] or \
        sorted(os.listdir(mount.path("jobs"))) == ["ren", "ren.txt"]
    # and onto a submitted prompt: refused, nothing sent
    write(mount.path("jobs", ".again"), "again")
    with pytest.raises(PermissionError):
        os.rename(mount.path("jobs", ".again"), mount.path("jobs", "ren.txt"))
    assert creates(sim) == 1


def test_read_only_after_success(mount, sim):
    p = mount.path("jobs", "ro.txt")
    write(p, "only once")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o444
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND):
        with pytest.raises(OSError) as e:
            os.open(p, flags)
        assert e.value.errno == errno.EACCES
    with pytest.raises(OSError) as e:
        os.truncate(p, 0)
    assert e.value.errno == errno.EACCES
    r = subprocess.run(["bash", "-c", 'echo again > "$1"', "-", p], stderr=subprocess.PIPE,
                       text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert not os.access(p, os.W_OK)
    os.chmod(p, 0o644)  # accepted, and it stays read-only
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o444
    os.utime(p, (1000000000, 1000000000))
    assert os.stat(p).st_mtime == 1000000000
    assert read(p) == "only once"
    assert creates(sim) == 1
    # removing it removes only the file; the name stays taken
    os.unlink(p)
    assert os.path.isdir(mount.path("jobs", "ro"))
    with pytest.raises(PermissionError):
        open(p, "w")
    assert creates(sim) == 1


def test_writing_inside_job_directory_is_refused(mount, sim):
    write(mount.path("jobs", "in.txt"), "inside")
    d = mount.path("jobs", "in")
    for name in ("status", "id", "request.json", "newfile"):
        with pytest.raises(OSError) as e:
            open(os.path.join(d, name), "w")
        assert e.value.errno == errno.EACCES
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(d, "sub"))
    assert e.value.errno == errno.EACCES
    for path in (mount.path("x.txt"), mount.path("videos", "x.txt")):
        with pytest.raises(OSError) as e:
            open(path, "w")
        assert e.value.errno == errno.EACCES
    assert creates(sim) == 1
