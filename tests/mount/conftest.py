"""Fixtures: a simulator per test and videofs mounted on it.

@pytest.mark.sim("--duration", "2", token="T") passes options to videofs-sim;
@pytest.mark.mount(options="poll=1") sets the mount's -o options.
The core modules (CORE) run twice, against the simulator as OpenAI serves
the API and as a reseller's gateway does (--style newapi, its copy
refreshed every GATEWAY_REFRESH s); @pytest.mark.openai_only("why") keeps
a test that is about the list or delete by its nature to the first.
After the test the mount is taken down strictly (fusermount3 -u, exit 0,
nothing bad on stderr) when the test passed, and by cleanup() when not.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from util import SIM, VIDEOFS, Mount, Sim  # noqa: E402

SIM_DEFAULTS = {"--queue": "0.2", "--duration": "0.6", "--video-bytes": "65536"}
CORE = {"test_submit", "test_tree", "test_content", "test_watch"}
# VIDEOFS_STYLES=openai runs the core modules once (the sanitized pass:
# test_gateway.py still runs the gateway under it)
STYLES = tuple(os.environ.get("VIDEOFS_STYLES", "openai,newapi").split(","))
GATEWAY_REFRESH = "0.5"


def pytest_configure(config):
    config.addinivalue_line("markers", "sim(*args, token=None): videofs-sim options")
    config.addinivalue_line("markers", "mount(options=...): videofs -o options")
    config.addinivalue_line("markers", "openai_only(why): not run against --style newapi")


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in CORE and "sim" in metafunc.fixturenames:
        metafunc.parametrize("style", STYLES)


@pytest.fixture
def style():
    return "openai"


def pytest_collection_modifyitems(config, items):
    missing = [p for p in (VIDEOFS, SIM) if not os.access(p, os.X_OK)]
    if not missing and os.access("/dev/fuse", os.R_OK | os.W_OK):
        return
    why = "not built: " + ", ".join(missing) if missing else "no /dev/fuse"
    for item in items:
        item.add_marker(pytest.mark.skip(reason=why))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def sim_args(request, style="openai"):
    marker = request.node.get_closest_marker("sim")
    opts = dict(SIM_DEFAULTS)
    if style == "newapi":
        opts["--style"] = "newapi"
        opts["--gateway-refresh"] = GATEWAY_REFRESH
    extra = []
    args = list(marker.args) if marker else []
    i = 0
    while i < len(args):
        if args[i] in opts and i + 1 < len(args):
            opts[args[i]] = args[i + 1]
            i += 2
        else:
            extra.append(args[i])
            i += 1
    flat = [x for kv in opts.items() for x in kv]
    token = marker.kwargs.get("token") if marker else None
    return flat + extra, token


@pytest.fixture
def sim(request, style):
    if style == "newapi":
        why = request.node.get_closest_marker("openai_only")
        if why:
            pytest.skip("the gateway: " + why.args[0])
    args, token = sim_args(request, style)
    s = Sim(*args, token=token)
    yield s
    s.stop()


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture
def mount(request, sim, tmp_path):
    marker = request.node.get_closest_marker("mount")
    options = marker.kwargs.get("options", "poll=0.2") if marker else "poll=0.2"
    token = marker.kwargs.get("token", "test-token") if marker else "test-token"
    m = Mount(tmp_path, sim.url, options, token=token)
    yield m
    if _failed(request):
        m.cleanup()
    else:
        try:
            m.umount()
        except Exception:
            m.cleanup()
            raise
        m.check_stderr()
