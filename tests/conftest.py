"""Fixtures: a broker the suite owns, and the real scripts run as a user runs them."""

import uuid
from pathlib import Path

import pytest

from brokers import POLICIES, NoBroker, accepts_amqp, broker_kind, own_broker, rabbitmq_image, why_local
from scripts import SCRIPT_ENV, Worker, script_python_version, start_script_python, stop_script_python


UNIT_TESTS = Path(__file__).resolve().parent / "unit"


def only_unit_tests(config):
    """True when every path asked for (`python -m pytest tests/unit`, a file or
    a test in it) is in tests/unit: the unit tests need no broker, and run no
    script, so the checks for a broker and for TEST_SCRIPT_PYTHON are skipped."""
    paths = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    return bool(paths) and all(path == UNIT_TESTS or UNIT_TESTS in path.parents for path in paths)


def pytest_sessionstart(session):
    """No broker of the kind asked for: one line, before any test runs."""
    if only_unit_tests(session.config):
        return
    try:
        broker_kind()
    except NoBroker as reason:
        pytest.exit(str(reason), returncode=3)


def pytest_report_header(config):
    """Which brokers the tests run on, and why, and which Python runs the
    scripts, above the results."""
    if only_unit_tests(config):
        return "brokers: none, only the unit tests (tests/unit) are asked for"
    if broker_kind() == "docker":
        brokers = f"brokers: Docker, image {rabbitmq_image()}"
    else:
        brokers = f"brokers: private nodes of the local rabbitmq-server, not Docker: {why_local()}"
    return [brokers, f"scripts run by: {script_python_version()}"]


@pytest.fixture(scope="session", autouse=True)
def script_python(request):
    """TEST_SCRIPT_PYTHON's wine, if it is one, runs for the session and no longer."""
    if only_unit_tests(request.config):
        yield
        return
    start_script_python()
    yield
    stop_script_python()


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
