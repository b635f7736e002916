"""The options of both scripts, the broker's URLs among them, parsed into
one settings object (argparse's namespace, with `parameters` added): an
option is added here, and used by its name in the script."""

import argparse
import os
import re
import urllib.parse

import pika

from workqueue import SCRIPT, output

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
DEFAULT_QUEUE = "test_dur"  # the tutorial's durable queue
# How long the scripts wait for the broker: to connect to one URL, for each
# answer, for a confirm. Past it, the connection counts as lost. Long enough
# for a cluster to elect a queue's new leader when a node is lost.
DEFAULT_TIMEOUT = 30


def common_parser(description):
    """An ArgumentParser with the options both scripts take."""
    parser = argparse.ArgumentParser(description=description)
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
    return with_urls(parser, parse_args(parser, argv))


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
    """The settings, with `command` (--run's, or None) and `retries` (the
    RetryPolicy); what cannot be right is a usage error."""
    from workqueue import commands, retries  # the worker's alone: new_task.py starts without them
    if settings.no_ack and (settings.attempts is not None or settings.retry_delay is not None):
        parser.error("--attempts and --retry-delay have no effect with --no-ack: a failed task is gone")
    settings.retries = retries.RetryPolicy(
        settings.attempts or retries.DEFAULT_ATTEMPTS, settings.retry_delay or retries.DEFAULT_RETRY_DELAY)
    too_long = None if settings.no_ack else settings.retries.name_too_long(settings.queue)
    if too_long:
        parser.error(too_long)
    settings.command = None
    if settings.run is not None:
        try:
            settings.command = commands.Command(commands.prepare(settings.run), settings.time_limit)
        except commands.BadCommand as exc:
            parser.error(str(exc))


def parse_args(parser, argv):
    """parser.parse_args(argv): usage errors exit 2 in argparse's way; --help
    into a closed pipe (./worker.py --help | head -1) is no traceback."""
    try:
        return parser.parse_args(argv)
    except SystemExit:
        output.flush_or_drop()
        raise
    except OSError:  # the help text was too long for the pipe
        output.drop()
        raise SystemExit(1) from None


def with_urls(parser, settings):
    """The settings, with the broker's URLs as `parameters`; a bad one is a usage error."""
    try:
        settings.parameters = connection_parameters(settings.url, os.environ.get("AMQP_URL"), settings.timeout)
    except ValueError as exc:
        parser.error(str(exc))
    return settings


def queue_name(text):
    """An argparse type: RabbitMQ takes names of 1 to 255 bytes. (An empty
    name would have the broker make up one, and leave that queue behind.)"""
    if not text:
        raise argparse.ArgumentTypeError("a queue needs a name (is a shell variable unset?)")
    if len(text.encode("utf-8", "surrogateescape")) > 255:
        raise argparse.ArgumentTypeError("a queue name has at most 255 bytes")
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


# A comma starts another URL only before amqp:// or amqps:// (or at the end):
# pika's ?ssl_options={...}, which carries a client certificate, has commas too.
URL_SEPARATOR = re.compile(r",(?=\s*(?:amqps?://|$))")


def connection_parameters(url_option, url_variable, timeout):
    """One URLParameters per comma-separated URL, from --url, else $AMQP_URL,
    else the default; pika tries them in order. ValueError names the source
    and the URL, its password masked."""
    if url_option is not None:
        source, urls = "argument --url", url_option
    elif url_variable:
        source, urls = "AMQP_URL", url_variable
    else:
        source, urls = "default URL", DEFAULT_URL
    parameters = []
    for url in (u for u in (u.strip() for u in URL_SEPARATOR.split(urls)) if u):
        if urllib.parse.urlsplit(url).scheme.lower() not in ("amqp", "amqps"):
            raise ValueError(f"{source}: {masked(url)!r} is not an amqp:// or amqps:// URL")
        try:
            each = pika.URLParameters(url)
        except Exception as exc:  # pika raises ValueError, IndexError, ... for a bad URL
            raise ValueError(f"{source}: {masked(url)!r}: {exc}") from None
        # Names the connection in the broker's lists and management UI.
        each.client_properties = {
            "connection_name": f"{SCRIPT} (pid {os.getpid()})",
            **(each.client_properties or {}),
        }
        # --timeout bounds the connection's set-up, unless the URL says otherwise.
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        if "stack_timeout" not in query:
            each.stack_timeout = timeout
        if "socket_timeout" not in query:
            each.socket_timeout = min(each.socket_timeout, timeout)
        parameters.append(each)
    if not parameters:
        raise ValueError(f"{source}: no URL given")
    return parameters


def masked(url):
    """The URL with its password as ***, fit to be shown."""
    userinfo, _, rest = urllib.parse.urlsplit(url).netloc.rpartition("@")
    if ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return url.replace(f"{userinfo}@{rest}", f"{user}:***@{rest}", 1)
