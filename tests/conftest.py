"""Fixtures: a broker the suite owns, and the real scripts run as a user runs them."""

import os
import uuid
from pathlib import Path

import pytest

from brokers import (
    POLICIES,
    NoBroker,
    accepts_amqp,
    broker_kind,
    compose_version,
    own_broker,
    rabbitmq_image,
    why_local,
)
from scripts import SCRIPT_ENV, Worker, script_python_version, start_script_python, stop_script_python


UNIT_TESTS = Path(__file__).resolve().parent / "unit"


def only_unit_tests(config):
    """True when every path asked for (`python -m pytest tests/unit`, a file or
    a test in it) is in tests/unit: the unit tests need no broker, and run no
    script, so the checks for a broker and for TEST_SCRIPT_PYTHON are skipped."""
    paths = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    return bool(paths) and all(path == UNIT_TESTS or UNIT_TESTS in path.parents for path in paths)


def xdist_worker(config):
    """True in a worker of pytest-xdist (not in its controller, nor without it)."""
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    """No broker of the kind asked for: one line, before any test runs. Under
    pytest-xdist the controller says it, before it starts its workers."""
    if xdist_worker(session.config) or only_unit_tests(session.config):
        return
    try:
        broker_kind()
    except NoBroker as reason:
        pytest.exit(str(reason), returncode=3)
    # TEST_SCRIPT_PYTHON's wine, if it is one, runs for the session and no
    # longer: one wineserver, which every xdist worker's scripts share.
    start_script_python()


def pytest_sessionfinish(session):
    if not xdist_worker(session.config) and not only_unit_tests(session.config):
        stop_script_python()


# Under pytest-xdist each test file runs on one worker (--dist loadfile, in
# pytest.ini): a module's brokers (a cluster, the TLS nodes, the workers'
# image) are made once, and the partition tests, whose clusters have fixed
# addresses, never run two at a time. Their file is the longest (two 120 s
# cuts, one after the other: about 5 minutes): it goes first, and its worker
# takes no other file until it is done, so that none waits behind it; the
# other workers share the rest meanwhile.
LONGEST = "test_partition.py"


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name != LONGEST)  # stable: the rest keep their order


def pytest_xdist_auto_num_workers(config):
    """-n auto: a worker a core, and one more, since the partition tests'
    worker mostly waits; PYTEST_XDIST_AUTO_NUM_WORKERS overrides it."""
    asked = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if asked:
        return int(asked)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores + 1


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestAlone(LoadFileScheduling):
        def _reschedule(self, node):
            longest = {file: tests for file, tests in self.assigned_work[node].items() if file.endswith(LONGEST)}
            if self.workqueue and self._pending_of(longest):
                return  # busy with the longest file: the other workers take the rest
            super()._reschedule(node)

    return LongestAlone(config, log)


def pytest_report_header(config):
    """Which brokers the tests run on, and why, and which Python runs the
    scripts, above the results."""
    if only_unit_tests(config):
        return "brokers: none, only the unit tests (tests/unit) are asked for"
    if broker_kind() == "docker":
        brokers = [f"brokers: Docker, image {rabbitmq_image()}", f"compose: {compose_version()}"]
    else:
        brokers = [f"brokers: private nodes of the local rabbitmq-server, not Docker: {why_local()}"]
    return [*brokers, f"scripts run by: {script_python_version()}"]


@pytest.fixture(scope="session")
def session_broker(tmp_path_factory):
    broker = own_broker(tmp_path_factory.mktemp("rabbitmq"))
    broker.start()
    try:
        broker.import_definitions(POLICIES)
        yield broker
    finally:
        broker.remove()


@pytest.fixture
def broker(session_broker):
    """The suite's broker, brought back up after a test that crashed or stopped it."""
    yield session_broker
    if not accepts_amqp(session_broker.url):
        session_broker.start()


@pytest.fixture
def report(request):
    """report(line): a line for the run's summary, under "reports" (an xdist
    worker's own output is not shown)."""
    return lambda line: request.node.user_properties.append(("report", line))


def pytest_terminal_summary(terminalreporter):
    lines = [
        f"{test.nodeid}: {value}"
        for outcome in ("passed", "failed")
        for test in terminalreporter.stats.get(outcome, [])
        for name, value in test.user_properties
        if name == "report"
    ]
    if lines:
        terminalreporter.section("reports")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def queue():
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_worker(request):
    """start_worker(queue, *options) -> a Worker on the suite's broker (or on
    url=..., with env=...) that has said it is waiting (unless ready=False).
    With url=, the suite's broker is not started for it."""

    def start(queue, *options, url=None, ready=True, env=SCRIPT_ENV):
        worker = Worker(url or request.getfixturevalue("broker").url, queue, *options, env=env)
        if ready:
            worker.wait_ready()
        return worker

    return start


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test():
    """Every worker a test started is stopped after it, passed or failed: one
    that was to exit and did not must not go on retrying in the background."""
    yield
    while Worker.started:
        Worker.started.pop().stop()
