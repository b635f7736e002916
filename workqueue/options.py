"""The options of both scripts, the broker's URLs among them (read in
workqueue/urls.py), parsed into one settings object (argparse's namespace,
with `parameters` added): an option is added here, and used by its name in
the script. What cannot work is a usage error (exit 2) before the broker
hears of it."""

import argparse
import os
import sys

from workqueue import LONGEST_NAME, output, urls
from workqueue.urls import DEFAULT_URL, URL_SEPARATOR, connection_parameters, masked  # noqa: F401

DEFAULT_QUEUE = "test_dur"  # the tutorial's durable queue
# How long the scripts wait for the broker: to connect to one URL, for each
# answer, for a confirm. Past it, the connection counts as lost. Long enough
# for a cluster to elect a queue's new leader when a node is lost.
DEFAULT_TIMEOUT = 30


class Parser(argparse.ArgumentParser):
    """argparse's, which masks the passwords in the words it echoes in an error."""

    given = ()  # the command line's words and AMQP_URL

    def error(self, message):
        super().error(urls.without_passwords(message, self.given))


def common_parser(description):
    """An ArgumentParser with the options both scripts take."""
    parser = Parser(description=description)
    parser.add_argument(
        "--url",
        help="broker URL, with pika's query parameters such as ?heartbeat=10; "
        "several URLs separated by commas are tried in turn "
        f"(default: $AMQP_URL, else {DEFAULT_URL.replace('%', '%%')})",
    )
    parser.add_argument(
        "--queue", type=queue_name, default=DEFAULT_QUEUE,
        help="durable queue name (default: %(default)s)",
    )
    parser.add_argument(
        "--queue-type",
        choices=("classic", "quorum"),
        default="classic",
        help="classic: the tutorial's durable queue; quorum: replicated over a "
        "cluster, as today's tutorial declares task_queue (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help="how long to wait for the broker: to connect to a URL, for each of its answers "
        "and confirms; past it the connection counts as lost (default: %(default)s)",
    )
    return parser


def new_task_settings(argv=None):
    parser = common_parser("Send a task to the work queue.")
    parser.add_argument(
        "words", nargs="*",
        help="the task, one second of work per '.' (default: Hello World!); "
        "a single '-' reads tasks from standard input, one a line",
    )
    settings = parse_args(parser, argv)
    settings.worker = False
    if settings.queue_type == "quorum":  # topology.py declares a quorum queue's NAME.dead
        from workqueue import retries
        refuse(parser, retries.dead_queue_too_long(settings.queue))
    return with_urls(parser, settings)


def worker_settings(argv=None):
    parser = common_parser("Take tasks from the work queue, one at a time.")
    parser.add_argument(
        "--prefetch",
        type=integer_between(0, 65535),
        help="tasks the broker may hand this worker before it acks (default: 1, fair "
        "dispatch; 0 means unlimited, the tutorial's plain round-robin)",
    )
    parser.add_argument(
        "--no-ack",
        action="store_true",
        help="automatic acks (the tutorial's demonstration): the broker pushes this worker "
        "every waiting task at once, and every task it has not finished is lost if it dies",
    )
    real_work_options(parser)
    settings = parse_args(parser, argv)
    if settings.no_ack and settings.prefetch is not None:
        parser.error("--prefetch has no effect with --no-ack: the broker sends every task at once")
    if settings.prefetch is None:
        settings.prefetch = 1  # fair dispatch
    settings.worker = True
    with_real_work(parser, settings)
    return with_urls(parser, settings)


def real_work_options(parser):
    """The worker's options for real work (docs/real-work.md)."""
    from workqueue import retries  # the worker's alone: new_task.py starts without it
    parser.add_argument(
        "--run", metavar="COMMAND",
        help="do each task by running COMMAND (split as a shell would; no shell runs) with "
        "the task's text as its last argument: exit status 0 is done, anything else failed",
    )
    parser.add_argument(
        "--time-limit", type=seconds, metavar="SECONDS",
        help="a task still running after SECONDS has failed: --run's command is ended with "
        "all it started; the Python work(), which nothing can stop, makes the worker leave "
        "(exit 1) (default: none)",
    )
    parser.add_argument(
        "--attempts", type=integer_between(1, retries.MAX_ATTEMPTS), metavar="N",
        help="attempts at a failing task before it is parked in QUEUE.dead "
        f"(default: {retries.DEFAULT_ATTEMPTS})",
    )
    parser.add_argument(
        "--retry-delay", type=seconds, metavar="SECONDS",
        help="how long a failed task waits before it is tried again; doubled after each "
        f"failure (default: {retries.DEFAULT_RETRY_DELAY:g})",
    )


def with_real_work(parser, settings):
    """The settings, with `command` (--run's, or None), `limit` (the
    TimeLimit, or None) and `retries` (the RetryPolicy); what cannot be right
    is a usage error."""
    from workqueue import command_line, commands, retries  # the worker's alone: new_task.py starts without them
    from workqueue.time_limit import TimeLimit
    if settings.no_ack and (settings.attempts is not None or settings.retry_delay is not None):
        parser.error("--attempts and --retry-delay have no effect with --no-ack: a failed task is gone")
    settings.retries = retries.RetryPolicy(
        settings.attempts or retries.DEFAULT_ATTEMPTS, settings.retry_delay or retries.DEFAULT_RETRY_DELAY)
    if not settings.no_ack:  # a failed task's delay queues, and NAME.dead
        refuse(parser, settings.retries.name_too_long(settings.queue))
    elif settings.queue_type == "quorum":  # topology.py declares a quorum queue's NAME.dead
        refuse(parser, retries.dead_queue_too_long(settings.queue))
    settings.limit = TimeLimit(settings.time_limit) if settings.time_limit is not None else None
    settings.command = None
    if settings.run is not None:
        try:
            settings.command = commands.Command(command_line.prepare(settings.run), settings.limit)
        except command_line.BadCommand as exc:
            parser.error(str(exc))


def refuse(parser, why):
    """A usage error if there is a why."""
    if why:
        parser.error(why)


def parse_args(parser, argv):
    """parser.parse_args(argv): usage errors exit 2 in argparse's way; --help
    into a closed pipe (./worker.py --help | head -1) is no traceback."""
    parser.given = [*(sys.argv[1:] if argv is None else argv), os.environ.get("AMQP_URL") or ""]
    try:
        return parser.parse_args(argv)
    except SystemExit:
        output.flush_or_drop()
        raise
    except OSError:  # the help text was too long for the pipe
        output.drop()
        raise SystemExit(1) from None


def with_urls(parser, settings):
    """The settings, with the broker's URLs as `parameters` (a bad one is a
    usage error), and the queue's declaration as the tutorials make it,
    `queue_arguments`: nothing, or a quorum queue."""
    settings.queue_arguments = {"x-queue-type": "quorum"} if settings.queue_type == "quorum" else {}
    try:
        settings.parameters = connection_parameters(settings.url, os.environ.get("AMQP_URL"), settings.timeout)
    except ValueError as exc:
        parser.error(str(exc))
    return settings


def queue_name(text):
    """An argparse type: RabbitMQ takes names of 1 to 255 bytes of UTF-8. (An
    empty name would have the broker make up one, and leave that queue behind.)"""
    if not text:
        raise argparse.ArgumentTypeError("a queue needs a name (is a shell variable unset?)")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # bytes of another encoding, which argv carries as surrogates
        raise argparse.ArgumentTypeError(f"queue name {text!r} is not UTF-8 text, as RabbitMQ's names are") from None
    if size > LONGEST_NAME:
        raise argparse.ArgumentTypeError(f"a queue name has at most {LONGEST_NAME} bytes")
    return text


def seconds(text):
    """An argparse type for a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 86400 seconds")
    return value


def integer_between(low, high):
    """An argparse type for an integer in [low, high]."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse
