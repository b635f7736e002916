"""Workers as services, on Docker: the Dockerfile's image (on the base image
WORKER_BASE_IMAGE, default the Dockerfile's own), docker-compose.yml's
`workers` profile scaled to three and stopped while they work, and its
`tutorial` profile playing the tutorial's session."""

import concurrent.futures
import contextlib
import functools
import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from brokers import (
    COMPOSE_FILE,
    LOOPBACK,
    ComposeProject,
    broker_kind,
    consumer_count,
    free_port,
    ready_count,
    wait_until,
    why_local,
    why_no_image,
)
from scripts import TUTORIAL_TASKS, WAITING, queue_drained, run_new_task

REPOSITORY = Path(__file__).resolve().parent.parent
# The tests build the image with pika from a package index on 127.0.0.1 (see
# worker_image): this adds the host's network to the build.
BUILD_ON_HOST_NETWORK = REPOSITORY / "tests" / "compose-build.yml"

QUEUE = "test_dur"  # the scripts' default, which the compose workers use
IMAGE_USER = "10001"


@pytest.fixture(autouse=True, scope="module")
def needs_docker():
    if broker_kind() != "docker":
        pytest.skip(f"needs Docker: {why_local()}")


@contextlib.contextmanager
def package_index(folder):
    """requirements.txt's packages, as this machine's pip gets them, served as
    a package index (a folder per project, as PyPI's simple index) on
    127.0.0.1 while the block runs; yields its URL. So the image builds
    wherever this machine's pip works: a container may reach no network, or
    not trust a CA this machine trusts (as here: HTTPS goes through a proxy
    with a private CA). The image's pip installs the same files as from PyPI."""
    downloads = folder / "downloads"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "-r", REPOSITORY / "requirements.txt", "-d", downloads],
        check=True, capture_output=True, timeout=300,
    )
    for file in downloads.iterdir():
        project = re.sub(r"[-_.]+", "-", file.name.split("-")[0]).lower()
        (folder / "simple" / project).mkdir(parents=True, exist_ok=True)
        file.rename(folder / "simple" / project / file.name)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        (LOOPBACK, free_port()), functools.partial(Quiet, directory=folder / "simple")
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def default_base_image():
    """The Dockerfile's own default for WORKER_BASE_IMAGE."""
    (line,) = [l for l in (REPOSITORY / "Dockerfile").read_text().splitlines() if l.startswith("ARG WORKER_BASE_IMAGE=")]
    return line.partition("=")[2]


@pytest.fixture(scope="module")
def worker_image(tmp_path_factory):
    """The workers' image, built by `docker compose build` from the Dockerfile,
    under a name of this run's own; removed at the end."""
    import docker

    image = f"work-queues/worker:test-{uuid.uuid4().hex[:8]}"
    base = os.environ.get("WORKER_BASE_IMAGE")
    why_not = why_no_image(docker.from_env(), base or default_base_image(), "WORKER_BASE_IMAGE", ".ci/python-image")
    if why_not:
        pytest.fail(why_not)
    with package_index(tmp_path_factory.mktemp("package-index")) as index:
        project = ComposeProject("-f", str(BUILD_ON_HOST_NETWORK), WORKER_IMAGE=image)
        arguments = ["--build-arg", f"PIP_INDEX_URL={index}"]
        if base:
            arguments += ["--build-arg", f"WORKER_BASE_IMAGE={base}"]
        project.run("build", *arguments, "worker", timeout=600)
    try:
        yield image
    finally:
        docker.from_env().images.remove(image, force=True)


def stdout(container):
    return container.logs(stdout=True, stderr=False).decode().splitlines()


def stderr(container):
    return container.logs(stdout=False, stderr=True).decode().splitlines()


def received(container):
    prefix = " [x] Received "
    return [line[len(prefix):] for line in stdout(container) if line.startswith(prefix)]


def by_prefix(lines):
    """Compose's log lines, `NAME | LINE` (NAME is project_worker_1 or worker_1
    on Compose v1, worker-1 on v2), grouped by NAME."""
    groups = {}
    for line in lines:
        line = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line)  # v2 starts each line by erasing it
        match = re.match(r"(\S+)\s+\| (.*)$", line)
        if match:
            groups.setdefault(match[1], []).append(match[2])
    return groups


def exit_code(container):
    container.reload()
    return container.attrs["State"]["ExitCode"]


@pytest.fixture
def workers(worker_image):
    """docker compose --profile workers up -d --scale worker=3; its broker's URL
    as `url`."""
    project = ComposeProject("--profile", "workers", WORKER_IMAGE=worker_image)
    try:
        project.run("up", "-d", "--scale", "worker=3")
        project.url = project.node("rabbitmq", "RABBITMQ_PORT").url
        wait_until(lambda: consumer_count(project.url, QUEUE) == 3, 60, "three workers consuming")
        yield project
    finally:
        project.down()


def test_the_image_holds_the_scripts_and_runs_the_worker_as_a_user(worker_image):
    import docker

    client = docker.from_env()
    config = client.images.get(worker_image).attrs["Config"]
    assert config["Cmd"] == ["python", "worker.py"]  # exec form: the worker is PID 1, gets SIGTERM itself
    assert not config["Entrypoint"]  # so that `run worker ./new_task.py ...` runs new_task.py
    assert config["User"] == f"{IMAGE_USER}:{IMAGE_USER}"
    shown = client.containers.run(
        worker_image, ["sh", "-c", "id -u; ls -A; python -c 'import pika; print(pika.__version__)'"],
        network_mode="none", remove=True,
    ).decode().split()
    assert shown[0] == IMAGE_USER
    assert shown[1:-1] == ["__pycache__", "new_task.py", "requirements.txt", "worker.py", "workqueue"]  # the package, beside the scripts
    assert shown[-1].startswith("1.")  # pika, in the image's virtual environment


def test_three_workers_share_the_tasks_and_the_logs_tell_them_apart(workers):
    run_new_task(workers.url, None, "First.")
    run_new_task(workers.url, None, "Second.")
    # As the README says to send one from the image:
    sent = workers.run("run", "--rm", "worker", "./new_task.py", "Third.")
    assert sent.splitlines()[-1] == " [x] Sent 'Third.'"

    containers = workers.containers("worker")
    assert len(containers) == 3
    wait_until(lambda: all(" [x] Done" in stdout(c) for c in containers), 30, "each worker to do a task")
    assert sorted(task for c in containers for task in received(c)) == ["'First.'", "'Second.'", "'Third.'"]

    workers.run("stop", "worker")
    assert [exit_code(c) for c in containers] == [0, 0, 0]
    # `docker compose logs worker` shows each worker's stdout and stderr under its name.
    logs = by_prefix(workers.run("logs", "--no-color", "worker").splitlines())
    assert len(logs) == 3, logs
    for lines in logs.values():
        assert lines[0] == WAITING and lines[1].startswith(" [x] Received "), lines
        assert " [x] Done" in lines
        assert any(line.startswith("worker.py: stop") for line in lines), lines  # from stderr


def test_stop_lets_each_worker_finish_and_ack_its_task_and_tasks_sent_meanwhile_wait(workers):
    long_tasks = [f"Long task {n}......" for n in (1, 2, 3)]  # 6 s each, one per worker
    for task in long_tasks:
        run_new_task(workers.url, None, *task.split())
    containers = workers.containers("worker")
    wait_until(lambda: all(received(c) for c in containers), 30, "each worker to take a task")
    in_hand = {c.name: received(c) for c in containers}
    assert sorted(t for tasks in in_hand.values() for t in tasks) == [repr(t) for t in long_tasks]

    with concurrent.futures.ThreadPoolExecutor(1) as background:
        started = time.monotonic()
        stop = background.submit(workers.run, "stop", "worker")  # SIGTERM, then stop_grace_period

        def stopping_or_gone(container):
            return any(line.startswith("worker.py: stopping") for line in stderr(container)) or (
                container.reload() or container.status != "running"
            )

        wait_until(lambda: all(stopping_or_gone(c) for c in containers), 20, "the workers to start stopping")
        during_the_stop = ["Sent during the stop.", "Sent during the stop, too."]
        for task in during_the_stop:
            run_new_task(workers.url, None, *task.split())
        stop.result(timeout=120)
        took = time.monotonic() - started

    for container in containers:
        (task,) = in_hand[container.name]
        out, err = stdout(container), stderr(container)
        assert out == [WAITING, f" [x] Received {task}", " [x] Done"], (
            f"{container.name} did not finish its task before it exited (stop took {took:.1f} s): "
            f"stdout {out}, stderr {err}"
        )
        assert any(line.startswith("worker.py: stopping") for line in err), err
        assert err[-1].startswith("worker.py: stopped"), err
        assert exit_code(container) == 0, err
    # Acked: none of the three came back to the queue; the two sent during the stop wait there.
    assert ready_count(workers.url, QUEUE) == len(during_the_stop)

    workers.run("start", "worker")
    wait_until(
        lambda: sum(len(received(c)) for c in containers) == len(long_tasks) + len(during_the_stop),
        60, "the tasks sent during the stop to be taken",
    )
    wait_until(lambda: sum(stdout(c).count(" [x] Done") for c in containers) == 5, 30, "five tasks done")
    everything = sorted(t for c in containers for t in received(c))
    assert everything == sorted(repr(t) for t in long_tasks + during_the_stop)  # once each, none redelivered
    queue_drained(workers.node("rabbitmq", "RABBITMQ_PORT"), QUEUE)


def test_a_worker_told_to_stop_as_it_starts_stops_at_once(worker_image):
    """SIGTERM a few milliseconds after the container starts, before worker.py
    can have set its handler. A Python that is PID 1 would ignore it and run on
    until `stop` gives up after stop_grace_period (60 s) and kills it;
    compose's init (init: true) passes it on to a Python that is not PID 1."""
    project = ComposeProject("--profile", "workers", WORKER_IMAGE=worker_image)
    try:
        project.run("up", "--no-start", "worker")
        container = project.container("worker")
        container.start()
        container.kill(signal="SIGTERM")
        wait_until(lambda: container.reload() or container.status == "exited", 10, "the worker to exit")
    finally:
        project.down()


def test_the_tutorial_profile_plays_the_tutorials_session(worker_image):
    """docker compose --profile tutorial up worker1 worker2 new-task, as the
    README says; its interleaved output read as a user reads it."""
    project = ComposeProject("--profile", "tutorial", WORKER_IMAGE=worker_image)
    command = [*project.command, "-f", str(COMPOSE_FILE), *project.options,
               "up", "--no-color", "worker1", "worker2", "new-task"]
    up = subprocess.Popen(command, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(line.rstrip("\n") for line in up.stdout), daemon=True)
    reader.start()
    try:

        def workers_lines():
            groups = by_prefix(list(output))
            return [lines for name, lines in groups.items() if name.startswith(("worker1", "worker2"))]

        try:
            wait_until(lambda: sum(lines.count(" [x] Done") for lines in workers_lines()) == 5, 60, "five Done")
        except TimeoutError:
            pytest.fail(f"the five tasks not done within 60 s of `up`; its output: {output}")
        first, second = sorted(workers_lines(), key=lambda lines: lines.count(" [x] Done"), reverse=True)
        for lines, tasks in ((first, TUTORIAL_TASKS[0::2]), (second, TUTORIAL_TASKS[1::2])):
            expected = [WAITING]
            for task in tasks:
                expected += [f" [x] Received {task!r}", " [x] Done"]
            assert lines == expected, output
        (sender,) = [lines for name, lines in by_prefix(list(output)).items() if name.startswith("new-task")]
        assert [line for line in sender if line.startswith(" [x]")] == [f" [x] Sent {t!r}" for t in TUTORIAL_TASKS]
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl+C: compose stops what it started
        try:
            up.wait(90)
        finally:
            up.kill()
            project.down()
