"""workqueue/options.py: the broker's URLs, the option types, and both
scripts' settings."""

import argparse
import os

import pytest

import workqueue
from workqueue import options
from workqueue.options import connection_parameters, integer_between, masked, new_task_settings, queue_name, seconds, worker_settings


@pytest.fixture(autouse=True)
def no_amqp_url(monkeypatch):
    """The tests' own AMQP_URL, never the environment's."""
    monkeypatch.delenv("AMQP_URL", raising=False)


# The broker's URLs.

def test_several_urls_separated_by_commas_are_tried_in_order():
    parameters = connection_parameters("amqp://a:1@node1:5672/%2F, amqp://b:2@node2:5673/tasks,amqps://node3", None, 30)
    assert [(p.host, p.port, p.virtual_host) for p in parameters] == [
        ("node1", 5672, "/"), ("node2", 5673, "tasks"), ("node3", 5671, "/"),
    ]
    assert [p.credentials.username for p in parameters[:2]] == ["a", "b"]


def test_ssl_options_with_commas_stay_one_url(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("client").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
    tls = (
        f"amqps://u:p@rabbit:5671/%2F?ssl_options={{'ca_certs': '{tmp_path}/ca.pem', "
        f"'certfile': '{tmp_path}/client.pem','server_hostname': 'rabbit.example'}}"
    )
    parameters = connection_parameters(f"{tls},amqp://other:5672/%2F", None, 30)
    assert [p.host for p in parameters] == ["rabbit", "other"]
    assert parameters[0].ssl_options.server_hostname == "rabbit.example"
    assert parameters[1].ssl_options is None


@pytest.mark.parametrize(
    "url_option, url_variable, host",
    [
        ("amqp://from-option/", "amqp://from-variable/", "from-option"),  # --url first
        (None, "amqp://from-variable/", "from-variable"),  # then AMQP_URL
        (None, None, "localhost"),  # then the default
        (None, "", "localhost"),  # an empty AMQP_URL is no URL
    ],
)
def test_url_option_then_amqp_url_then_default(url_option, url_variable, host):
    (parameters,) = connection_parameters(url_option, url_variable, 30)
    assert parameters.host == host


@pytest.mark.parametrize(
    "url_option, url_variable, named",
    [
        ("http://guest:secret@h/", None, "argument --url: 'http://guest:***@h/' is not an amqp:// or amqps:// URL"),
        (None, "http://guest:secret@h/", "AMQP_URL: 'http://guest:***@h/' is not an amqp:// or amqps:// URL"),
        ("http://h/", "amqp://fine/", "argument --url: 'http://h/'"),  # --url is used, so it is the one named
        ("", None, "argument --url: no URL given"),
        (" , ", None, "argument --url: no URL given"),
        (None, ",", "AMQP_URL: no URL given"),
    ],
)
def test_an_error_names_the_source_of_the_url(url_option, url_variable, named):
    with pytest.raises(ValueError) as error:
        connection_parameters(url_option, url_variable, 30)
    assert str(error.value).startswith(named)
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("url, tls, port", [
    ("AMQP://h/", False, 5672),
    ("Amqp://h/", False, 5672),
    ("AMQPS://h/", True, 5671),
    ("amqpS://h/", True, 5671),
])
def test_the_scheme_is_case_insensitive(url, tls, port):
    (parameters,) = connection_parameters(url, None, 30)
    assert (parameters.ssl_options is not None, parameters.port) == (tls, port)


@pytest.mark.parametrize("port", ["notaport", "70000"])
def test_a_bad_port_is_an_error_with_the_password_masked(port):
    with pytest.raises(ValueError) as error:
        connection_parameters(f"amqp://guest:secret@h:{port}/%2F", None, 30)
    message = str(error.value)
    assert message.startswith(f"argument --url: 'amqp://guest:***@h:{port}/%2F': ")
    assert "secret" not in message


@pytest.mark.parametrize(
    "url, shown",
    [
        ("amqp://guest:secret@h:5672/%2F", "amqp://guest:***@h:5672/%2F"),
        ("amqps://u:s%40cret@h:5671/v?heartbeat=5", "amqps://u:***@h:5671/v?heartbeat=5"),
        ("amqp://u:p@ss@h/", "amqp://u:***@h/"),  # an @ in the password
        ("amqp://u:@h/", "amqp://u:***@h/"),
        ("amqp://guest@h/", "amqp://guest@h/"),  # no password
        ("amqp://h:5672/", "amqp://h:5672/"),
        ("amqp://secret:secret@h/secret", "amqp://secret:***@h/secret"),  # only the password is masked
    ],
)
def test_masked(url, shown):
    assert masked(url) == shown


@pytest.mark.parametrize(
    "query, timeout, stack_timeout, socket_timeout",
    [
        ("", 30, 30, 10),  # socket_timeout: pika's 10 s, as it is shorter
        ("", 5, 5, 5),
        ("?stack_timeout=7", 5, 7, 5),  # the URL's own wins
        ("?socket_timeout=20", 5, 5, 20),
        ("?stack_timeout=7&socket_timeout=20", 3, 7, 20),
    ],
)
def test_timeout_bounds_the_connection_unless_the_url_says(query, timeout, stack_timeout, socket_timeout):
    (parameters,) = connection_parameters(f"amqp://h/{query}", None, timeout)
    assert (parameters.stack_timeout, parameters.socket_timeout) == (stack_timeout, socket_timeout)


def test_the_connection_is_named_after_the_script_and_its_pid():
    (parameters,) = connection_parameters("amqp://h/", None, 30)
    assert parameters.client_properties == {"connection_name": f"{workqueue.SCRIPT} (pid {os.getpid()})"}


def test_client_properties_in_the_url_are_kept_and_win():
    (parameters,) = connection_parameters("amqp://h/?client_properties={'connection_name':'mine','product':'x'}", None, 30)
    assert parameters.client_properties == {"connection_name": "mine", "product": "x"}


# The option types.

@pytest.mark.parametrize("name", ["a", "task_queue", "a" * 255, "é" * 127 + "a"])
def test_queue_name_accepts_1_to_255_bytes(name):
    assert queue_name(name) == name


@pytest.mark.parametrize(
    "name, why",
    [
        ("", "a queue needs a name"),
        ("a" * 256, "at most 255 bytes"),
        ("é" * 128, "at most 255 bytes"),  # 128 characters, 256 bytes
        ("\udcff", "is not UTF-8 text"),  # bytes that are not UTF-8, as argv carries them
        ("caf\udce9", "is not UTF-8 text"),  # café in Latin-1
    ],
)
def test_queue_name_refuses(name, why):
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        queue_name(name)


@pytest.mark.parametrize("text, value", [("30", 30.0), ("0.5", 0.5), ("1e3", 1000.0), ("86399.9", 86399.9)])
def test_seconds(text, value):
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "86400", "nan", "inf", "soon", ""])
def test_seconds_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        seconds(text)


@pytest.mark.parametrize("text, value", [("0", 0), ("1", 1), ("65535", 65535), (" 7 ", 7)])
def test_integer_between(text, value):
    assert integer_between(0, 65535)(text) == value


@pytest.mark.parametrize("text, why", [
    ("-1", "-1 is not between 0 and 65535"),
    ("65536", "65536 is not between 0 and 65535"),
    ("1.5", "'1.5' is not an integer"),
    ("many", "'many' is not an integer"),
])
def test_integer_between_refuses(text, why):
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        integer_between(0, 65535)(text)


# Both scripts' settings.

def test_worker_defaults():
    settings = worker_settings([])
    assert (settings.prefetch, settings.no_ack, settings.queue, settings.queue_type, settings.timeout) == (
        1, False, "test_dur", "classic", 30,
    )
    assert [(p.host, p.port, p.virtual_host) for p in settings.parameters] == [("localhost", 5672, "/")]
    assert settings.parameters[0].stack_timeout == 30


def test_worker_options():
    settings = worker_settings(["--prefetch", "0", "--queue", "q", "--queue-type", "quorum", "--timeout", "2.5"])
    assert (settings.prefetch, settings.queue, settings.queue_type, settings.timeout) == (0, "q", "quorum", 2.5)
    assert settings.parameters[0].stack_timeout == 2.5


def test_worker_no_ack():
    settings = worker_settings(["--no-ack"])
    assert settings.no_ack is True


def test_new_task_defaults():
    settings = new_task_settings([])
    assert (settings.words, settings.queue, settings.queue_type, settings.timeout) == ([], "test_dur", "classic", 30)
    assert settings.parameters[0].host == "localhost"


def test_new_task_words_and_options():
    settings = new_task_settings(["First", "message.", "--queue", "q", "--url", "amqp://a/,amqp://b/"])
    assert settings.words == ["First", "message."]
    assert settings.queue == "q"
    assert [p.host for p in settings.parameters] == ["a", "b"]


def test_amqp_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("AMQP_URL", "amqp://from-env:5673/%2F")
    assert [(p.host, p.port) for p in worker_settings([]).parameters] == [("from-env", 5673)]
    assert [p.host for p in worker_settings(["--url", "amqp://from-option/"]).parameters] == ["from-option"]


@pytest.mark.parametrize(
    "settings, argv, says",
    [
        (worker_settings, ["--no-ack", "--prefetch", "5"], "--prefetch has no effect with --no-ack"),
        (worker_settings, ["--prefetch", "65536"], "65536 is not between 0 and 65535"),
        (worker_settings, ["--queue", ""], "a queue needs a name"),
        (worker_settings, ["--queue-type", "stream"], "invalid choice: 'stream'"),
        (new_task_settings, ["--timeout", "0"], "0 is not between 0 and 86400 seconds"),
        (new_task_settings, ["--url", "http://guest:secret@h/"],
         "argument --url: 'http://guest:***@h/' is not an amqp:// or amqps:// URL"),
        (new_task_settings, ["--url", "amqp://h:bad/"], "argument --url: 'amqp://h:bad/'"),
    ],
)
def test_usage_errors_exit_2_with_the_message_on_stderr(capsys, settings, argv, says):
    with pytest.raises(SystemExit) as leaving:
        settings(argv)
    assert leaving.value.code == 2
    out, err = capsys.readouterr()
    assert says in err
    assert "error: " in err and "secret" not in err
    assert out == ""


def test_a_bad_amqp_url_is_a_usage_error_naming_it(capsys, monkeypatch):
    monkeypatch.setenv("AMQP_URL", "amqp://guest:secret@h:99999/")
    with pytest.raises(SystemExit) as leaving:
        worker_settings([])
    assert leaving.value.code == 2
    err = capsys.readouterr().err
    assert "AMQP_URL: 'amqp://guest:***@h:99999/'" in err
    assert "secret" not in err


@pytest.mark.parametrize("settings", [worker_settings, new_task_settings])
@pytest.mark.parametrize("name", ["\udcff", "caf\udce9"])  # argv's bytes that are not UTF-8: --queue $'\xff'
def test_a_queue_name_that_is_not_utf8_is_a_usage_error(capsys, settings, name):
    with pytest.raises(SystemExit) as leaving:
        settings(["--queue", name])
    assert leaving.value.code == 2
    assert "error: argument --queue: queue name " in capsys.readouterr().err


FITS_ITS_DEAD_QUEUE = "q" * 250  # NAME.dead: 255 bytes
TOO_LONG_FOR_ITS_DEAD_QUEUE = "q" * 251


@pytest.mark.parametrize("settings, argv", [
    (new_task_settings, ["--queue-type", "quorum"]),  # both scripts declare a quorum queue's NAME.dead
    (worker_settings, ["--queue-type", "quorum", "--no-ack"]),
    (worker_settings, ["--no-ack", "--queue-type", "quorum"]),
])
def test_a_name_too_long_for_its_dead_letter_queue_is_a_usage_error(capsys, settings, argv):
    with pytest.raises(SystemExit) as leaving:
        settings([*argv, "--queue", TOO_LONG_FOR_ITS_DEAD_QUEUE])
    assert leaving.value.code == 2
    assert f"has too long a name for its queue {TOO_LONG_FOR_ITS_DEAD_QUEUE + '.dead'!r} (at most 255 bytes)" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("settings, argv, name", [
    (new_task_settings, ["--queue-type", "quorum"], FITS_ITS_DEAD_QUEUE),
    (new_task_settings, [], "q" * 255),  # a classic queue: no NAME.dead
    (worker_settings, ["--no-ack", "--queue-type", "quorum"], FITS_ITS_DEAD_QUEUE),
    (worker_settings, ["--no-ack"], "q" * 255),  # classic, --no-ack: neither NAME.dead nor delay queues
])
def test_a_name_that_fits_its_queues_is_taken(settings, argv, name):
    assert settings([*argv, "--queue", name]).queue == name


def test_a_name_too_long_for_its_delay_queues_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as leaving:
        worker_settings(["--queue", "q" * 247])  # q...q.retry.1s: 256 bytes
    assert leaving.value.code == 2
    assert "(at most 255 bytes)" in capsys.readouterr().err
    assert worker_settings(["--queue", "q" * 246]).queue == "q" * 246


def test_the_default_url_is_the_tutorials():
    assert options.DEFAULT_URL == "amqp://guest:guest@localhost:5672/%2F"
