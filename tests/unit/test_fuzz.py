"""Hypothesis over the parsing of what users give: the scripts' command lines
and AMQP_URL, the broker's URLs, standard input's lines. Whatever comes,
nothing but a usage error (or --help) leaves, and no password shows.

A password here is made of URL delimiters and of characters that nothing
else holds (SECRET): any of those in an output is a piece of the password."""

import contextlib
import io
import os
import tempfile
from unittest import mock

import pika
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from workqueue import stdin
from workqueue.options import connection_parameters, masked, new_task_settings, worker_settings

SECRET = "ΩΨΔλжЖ漢字"  # in no host, user, vhost, query, option, nor any text of ours
DELIMITERS = "/?#@:[]%, '\"\\&="
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

passwords = st.text(alphabet=SECRET + DELIMITERS + "abc019", max_size=12)
users = st.text(alphabet="abcdefgz019_-.%/", max_size=8)
hosts = st.one_of(
    st.text(alphabet="abcxyz019.-", min_size=1, max_size=10),
    st.sampled_from(["[::1]", "[::1", "::1]", "[zz]", "[fe80::1%25eth0]", "", "é.example", "h h"]),
)
ports = st.one_of(st.none(), st.integers(0, 70000).map(str), st.text(alphabet="0123abc", max_size=5))
vhosts = st.one_of(st.none(), st.text(alphabet="abc%2F/@-", max_size=8))
queries = st.one_of(
    st.none(),
    st.lists(
        st.tuples(st.sampled_from(["heartbeat", "socket_timeout", "stack_timeout", "channel_max", "locale",
                                   "connection_attempts", "nosuch", "client_properties", "ssl_options"]),
                  st.text(alphabet="0159.-abc{}':,=@", max_size=8)),
        max_size=3,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
)
schemes = st.sampled_from(["amqp", "AMQP", "amqps", "http", "", "amqp:", "amqp:/"])


@st.composite
def urls(draw, password=passwords):
    """A URL and its password (None if it has none)."""
    scheme, user, secret = draw(schemes), draw(st.one_of(st.none(), users)), draw(st.one_of(st.none(), password))
    userinfo = "" if user is None else f"{user}{'' if secret is None else ':' + secret}@"
    port, vhost, query = draw(ports), draw(vhosts), draw(queries)
    url = (f"{scheme}://{userinfo}{draw(hosts)}{'' if port is None else ':' + port}"
           f"{'' if vhost is None else '/' + vhost}{'' if query is None else '?' + query}")
    return url, None if user is None else secret


def shows_secret(text):
    return any(c in text for c in SECRET)


@FAST
@given(urls())
@example(("amqp://guest:se/cretΩ@localhost:5672/%2F", "se/cretΩ"))
@example(("amqp://u:Ω[@h/", "Ω["))
@example(("amqp://u:Ω@[::1/", "Ω"))
def test_connection_parameters_give_parameters_or_a_value_error_without_the_password(url_password):
    url, password = url_password
    try:
        parameters = connection_parameters(url, None, 30)
    except ValueError as error:
        text = str(error)
        assert text.startswith("argument --url: ")
        assert not shows_secret(text), text
        if password and shows_secret(password):
            assert password not in text and repr(password)[1:-1] not in text
    else:
        assert parameters and all(isinstance(p, pika.URLParameters) for p in parameters)


@FAST
@given(st.lists(urls(), min_size=1, max_size=3))
def test_masked_never_holds_a_password(some):
    shown = masked(",".join(url for url, _ in some))
    assert not shows_secret(shown), shown


@FAST
@given(st.text(max_size=40))
def test_masked_takes_any_text(text):
    assert isinstance(masked(text), str)


@FAST
@given(urls(password=st.text(max_size=12)))
def test_connection_parameters_take_any_password(url_password):
    """Any text at all (surrogates aside, which the next tests give): parameters or ValueError."""
    try:
        connection_parameters(url_password[0], None, 30)
    except ValueError:
        pass


# The scripts' settings over random command lines and AMQP_URL.

OPTIONS = ["--url", "--queue", "--queue-type", "--timeout", "--prefetch", "--no-ack", "--run", "--time-limit",
           "--attempts", "--retry-delay", "--u", "--qu", "-", "--", "quorum", "classic", "0", "1", "30", "-1",
           "65536", "1e3", "nan", "--url=", "--queue="]
SURROGATES = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
words = st.one_of(
    st.sampled_from(OPTIONS),
    urls().map(lambda u: u[0]),
    urls().map(lambda u: "--url=" + u[0]),
    st.text(alphabet=st.one_of(st.characters(codec="utf-8", exclude_characters=SECRET), SURROGATES), max_size=10),
    st.integers(0, 300).map(lambda n: "q" * n),
)
amqp_urls = st.one_of(st.none(), urls().map(lambda u: u[0]),
                      st.lists(urls().map(lambda u: u[0]), min_size=2, max_size=3).map(",".join),
                      st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00" + SECRET), max_size=10))


def settle(settings_of, argv, amqp_url):
    """settings_of(argv) with AMQP_URL set so: (exit code or None, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    env = {k: v for k, v in os.environ.items() if k != "AMQP_URL"}
    if amqp_url is not None:
        env["AMQP_URL"] = amqp_url
    with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            settings_of(argv)
            code = None
        except SystemExit as leaving:
            code = leaving.code
    return code, out.getvalue(), err.getvalue()


@FAST
@given(st.sampled_from([worker_settings, new_task_settings]), st.lists(words, max_size=6), amqp_urls,
       st.booleans())
@example(new_task_settings, ["--url", "amqp://guest:se/cretΩ@localhost/"], None, False)
@example(worker_settings, ["amqp://guest:se/cretΩ@localhost/"], None, False)
@example(worker_settings, [], "amqp://guest:se#cretΩ@localhost/", False)
@example(new_task_settings, ["--queue", "\udcff"], None, False)
def test_settings_end_in_settings_or_a_usage_error_that_shows_no_password(settings_of, argv, amqp_url, asks_help):
    if asks_help:
        argv = [*argv, "--help"]
    code, out, err = settle(settings_of, argv, amqp_url)
    assert code in (None, 0, 2), (code, err)
    assert "Traceback" not in err
    assert not shows_secret(err), err
    assert not shows_secret(out), out
    if code == 0:
        assert out.startswith("usage: ") and err == ""
    if code == 2:
        assert out == "" and err.startswith("usage: ") and ": error: " in err  # argparse's, whatever the words hold


# Standard input: lines_of against a plain split.

def reference(data):
    """(line number, line) of each line not empty once its \\r are off its end."""
    return [(n, line.rstrip(b"\r")) for n, line in enumerate(data.split(b"\n"), 1) if line.rstrip(b"\r")]


@FAST
@given(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"bc", b" ", b"\xff", b"\x00", b"\n\n"])
                | st.binary(max_size=20), max_size=20).map(b"".join),
       st.integers(1, 9))
def test_lines_of_any_bytes_in_any_chunks_are_a_plain_split(data, chunk):
    with tempfile.TemporaryFile() as file:
        file.write(data)
        file.seek(0)
        with mock.patch.object(stdin, "CHUNK", chunk):
            assert list(stdin.lines_of(file.fileno())) == reference(data)
