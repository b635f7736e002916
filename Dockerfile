# worker.py and new_task.py in a container, for docker-compose.yml's workers:
#
#     docker compose build                        # or: docker build -t work-queues/worker .
#     docker compose run --rm worker ./new_task.py Hello.
#
# WORKER_BASE_IMAGE: any image with python3 that can make a virtual
# environment. The default is the official Python 3.13, slim variant (Debian
# 13 today): the Python and Debian of the stand-in that .ci/python-image
# builds where no registry answers, so the tests run the image on the minor
# version users get. Slim: glibc and the system's CA certificates (for
# amqps://), without the full image's compilers, which pure-Python pika does
# not need. A minor version, not `3` or `latest`: a rebuild takes its patch
# releases and security fixes, never an untested Python.
ARG WORKER_BASE_IMAGE=python:3.13-slim
FROM ${WORKER_BASE_IMAGE}

# pika in a virtual environment: the same on the official image and on a
# Debian python3, whose system Python refuses `pip install` (PEP 668).
# PIP_INDEX_URL is pip's own setting: a mirror of yours with
# --build-arg PIP_INDEX_URL=... (no password in it: build arguments are kept
# in the image's history).
ARG PIP_INDEX_URL=https://pypi.org/simple
COPY requirements.txt /app/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /app/requirements.txt
ENV PATH=/opt/venv/bin:$PATH

# Not root. A numeric USER, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 worker \
    && useradd --system --uid 10001 --gid worker --no-create-home --home-dir /nonexistent worker
COPY new_task.py worker.py /app/
COPY workqueue/ /app/workqueue/
RUN python -m compileall -q /app
WORKDIR /app
USER 10001:10001

# Exec form: no shell in between, the worker itself gets `docker stop`'s
# SIGTERM. It may run as PID 1: worker.py handles SIGTERM and SIGINT (the
# kernel ignores signals PID 1 has no handler for) and starts no child
# processes to reap. Only until it has set its handlers, while Python starts
# (a fraction of a second), would a PID 1 ignore a SIGTERM; docker-compose.yml
# (init: true) and `docker run --init` put Docker's init in front for that.
# Its output is line by line already: each line reaches `docker logs` at once.
CMD ["python", "worker.py"]
