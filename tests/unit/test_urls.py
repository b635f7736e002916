"""workqueue/urls.py: a password never shows, whatever it holds, and every
bad URL is an error that names where it came from (--url, AMQP_URL)."""

import re

import pytest

from workqueue.options import connection_parameters, masked, new_task_settings, worker_settings

HOST = "h:5672/%2F"


@pytest.fixture(autouse=True)
def no_amqp_url(monkeypatch):
    monkeypatch.delenv("AMQP_URL", raising=False)


def given(source, url):
    """connection_parameters' arguments for `url` given by `source`."""
    return (url, "amqp://ignored/") if source == "argument --url" else (None, url)


def pieces(password):
    """The pieces of a password between a URL's delimiters."""
    return [p for p in re.split(r"[/?#@:\[\] ]", password) if p]


# Passwords as people paste them, unescaped, that pika reads as they are.
READABLE = ["secret", "p@ss@word", "50%off", "a:b:c", "pass word", "pässwörd€", "", "[x]", "quo'te\"back\\slash",
            "ends@"]
# An unescaped '/', '?' or '#' ends the host part early: the URL cannot be read.
UNREADABLE = ["se/cret", "se?cret", "se#cret", "/leading", "trailing/", "a?b#c/d", "Zm9v/YmFy+YmF6==",
              "x?y=1&heartbeat=2", "[::1/", "ünï/cödé", "sp ace/d"]
SOURCES = ["argument --url", "AMQP_URL"]
# The URL alone, first of two, second of two.
PLACES = [
    lambda url: url,
    lambda url: f"{url},amqp://other:pw@node2:5673/%2F",
    lambda url: f"amqp://other:pw@node2:5673/%2F, {url}",
]


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("password", READABLE)
def test_a_password_that_can_be_read_is_used_as_it_is(password, source, place):
    parameters = connection_parameters(*given(source, place(f"amqp://guest:{password}@{HOST}")), 30)
    (ours,) = [p for p in parameters if p.host == "h"]
    assert (ours.credentials.username, ours.credentials.password, ours.port) == ("guest", password, 5672)


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("password", UNREADABLE)
def test_an_unescaped_slash_question_mark_or_hash_is_explained_never_shown(password, source, place):
    from workqueue import urls

    with pytest.raises(ValueError) as error:
        connection_parameters(*given(source, place(f"amqp://guest:{password}@{HOST}")), 30)
    named = f"{source}: 'amqp://***@{HOST}'"  # all that is not our fixed words
    assert str(error.value) == f"{named}: {urls.UNREADABLE}"
    assert "must be percent-encoded as %2F %3F %23" in urls.UNREADABLE
    assert not [piece for piece in pieces(password) if len(piece) > 1 and piece in named]


def test_percent_encoded_the_same_password_is_read():
    (parameters,) = connection_parameters("amqp://guest:se%2Fc%3Fr%23et%40@h/%2F", None, 30)
    assert parameters.credentials.password == "se/c?r#et@"


def test_a_slash_in_the_user_name_is_explained_too():
    with pytest.raises(ValueError, match="percent-encoded") as error:
        connection_parameters("amqp://tenant/user:Pa55word@h/", None, 30)
    assert "Pa55word" not in str(error.value)


@pytest.mark.parametrize("url", ["amqp://guest@h/", "amqp://@h/"])
def test_a_user_without_a_password_is_said_in_words(url):
    with pytest.raises(ValueError, match=r"a user name needs its password \(USER:PASSWORD@HOST\)"):
        connection_parameters(url, None, 30)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("url, says", [
    ("amqp://[::1/", "Invalid IPv6 URL"),
    ("amqp://guest:secret@[::1/", "Invalid IPv6 URL"),
    ("amqp://[zz]:5672/", "'zz' in brackets is not an IPv6 address"),  # on Python 3.10 as well
    ("amqp://[1.2.3.4]/", "'1.2.3.4' in brackets is not an IPv6 address"),
])
def test_a_bad_ipv6_url_names_its_source(source, url, says):
    with pytest.raises(ValueError) as error:
        connection_parameters(*given(source, url), 30)
    assert str(error.value) == f"{source}: {masked(url)!r}: {says}"
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("argv, env, source", [
    (["--url", "amqp://[::1/"], None, "argument --url"),
    ([], "amqp://[zz]:5672/", "AMQP_URL"),
])
def test_a_bad_ipv6_url_is_a_usage_error(capsys, monkeypatch, argv, env, source):
    if env:
        monkeypatch.setenv("AMQP_URL", env)
    with pytest.raises(SystemExit) as leaving:
        new_task_settings(argv)
    assert leaving.value.code == 2
    assert f"error: {source}: " in capsys.readouterr().err


def test_an_ipv6_host_is_read():
    (parameters,) = connection_parameters("amqp://u:p@[::1]:5673/", None, 30)
    assert (parameters.host, parameters.port) == ("::1", 5673)
    assert connection_parameters("amqp://[fe80::1%25eth0]/", None, 30)  # with a zone


def test_a_host_with_a_bracket_in_the_password_is_read():
    """Python's urlsplit looks for IPv6 brackets in the whole netloc, password and all."""
    (parameters,) = connection_parameters("amqp://u:p[ss@h/", None, 30)
    assert (parameters.host, parameters.credentials.password) == ("h", "p[ss")


def test_a_url_that_is_not_utf8_is_refused():
    with pytest.raises(ValueError, match="is not UTF-8 text") as error:
        connection_parameters("amqp://guest:caf\udce9@h/", None, 30)  # Latin-1, as argv carries it
    assert "caf" not in str(error.value)


def test_pika_is_never_given_the_password(monkeypatch):
    """Its error texts could echo any part of the URL it is given."""
    import pika

    seen = []
    real = pika.URLParameters
    monkeypatch.setattr(pika, "URLParameters", lambda url: seen.append(url) or real(url))
    connection_parameters("amqp://guest:s3cret@h/%2F?heartbeat=5", None, 30)
    assert seen == ["amqp://h/%2F?heartbeat=5"]


def test_pikas_words_about_the_query_are_kept():
    with pytest.raises(ValueError) as error:
        connection_parameters("amqp://guest:s3cret@h/?heartbeat=soon", None, 30)
    assert str(error.value).startswith("argument --url: 'amqp://guest:***@h/?heartbeat=soon': Invalid heartbeat value 'soon'")


@pytest.mark.parametrize("url, shown", [
    ("amqp://guest:se/cret@h/%2F", "amqp://***@h/%2F"),  # cannot be read: all before the host
    ("amqp://a:se#c@h/,amqp://b:x@h2/", "amqp://***@h/,amqp://b:***@h2/"),  # several URLs
    ("guest:secret@localhost", "guest:***@localhost"),  # no scheme
    ("amqp://h/?ssl_options={'certfile':'c.pem','password':'k3y'}", "amqp://h/?ssl_options={'certfile':'c.pem','password':'***'}"),
])
def test_masked_hides_what_could_be_a_password(url, shown):
    assert masked(url) == shown


def test_a_key_password_in_ssl_options_is_not_shown():
    url = "amqps://u:p@h/?ssl_options={'ca_certs':'/nowhere/ca.pem','password':'k3y'}"
    with pytest.raises(ValueError) as error:
        connection_parameters(url, None, 30)
    assert "k3y" not in str(error.value)


@pytest.mark.parametrize("argv", [
    ["amqp://guest:s3cr/et@h/"],  # the URL without --url
    ["--timeout", "amqp://guest:s3cr/et@h/"],
    ["--queue-type=amqp://guest:s3cr/et@h/"],
    ["--u=amqp://guest:s3cr/et@h/"],  # an abbreviation argparse would take
    ["--prefetch", "amqp://guest:quo'te\"s3cr/et@h/"],  # repr() escapes its quotes
])
def test_argparse_does_not_echo_a_password(capsys, argv):
    with pytest.raises(SystemExit) as leaving:
        worker_settings(argv)
    assert leaving.value.code == 2
    err = capsys.readouterr().err
    assert "s3cr" not in err and "et@h" not in err


def test_without_passwords_masks_words_as_repr_shows_them():
    from workqueue import urls

    word = "amqp://u:it's@h/"
    assert urls.without_passwords(f"invalid value: {word!r}", [word]) == f"invalid value: {'amqp://u:***@h/'!r}"
