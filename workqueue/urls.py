"""The broker's URLs: --url, else $AMQP_URL, else the default; several
separated by commas, each made into pika's URLParameters.

A password never shows, whatever it holds. The user name and password are
taken out of a URL here, and pika is handed the rest: no text of pika's can
hold them. A URL shown is masked(). An unescaped '/', '?' or '#' in a
password (as people paste them) ends the URL's host part early, so that an
'@' comes after it: such a URL cannot be read, and is refused in words that
say how to write it, never with a piece of it."""

import ipaddress
import os
import re
import urllib.parse

import pika

from workqueue import SCRIPT

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
# A comma starts another URL only before amqp:// or amqps:// (or at the end):
# pika's ?ssl_options={...}, which carries a client certificate, has commas too.
URL_SEPARATOR = re.compile(r",(?=\s*(?:amqps?://|$))")
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# The key's password in ?ssl_options={..., 'password': '...'} (docs/tls.md).
KEY_PASSWORD = re.compile(r"""(password\\?['"]\s*:\s*)(\\?['"]).*?\2""")
UNREADABLE = (
    "its user name and password cannot be told from its host: a '/', '?' or '#' in a user name "
    "or password must be percent-encoded as %2F %3F %23 (and an '@' after the host as %40)"
)


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
    parameters = [url_parameters(url, source, timeout) for url in split(urls)]
    if not parameters:
        raise ValueError(f"{source}: no URL given")
    return parameters


def split(urls):
    return [u for u in (u.strip() for u in URL_SEPARATOR.split(urls)) if u]


def url_parameters(url, source, timeout):
    """pika's URLParameters for one URL; ValueError, with the URL masked."""
    shown = f"{source}: {masked(url)!r}"
    scheme = SCHEME.match(url)
    if not scheme or scheme.group(1).lower() not in ("amqp", "amqps"):
        raise ValueError(f"{shown} is not an amqp:// or amqps:// URL")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # bytes of another encoding, as argv and the environment carry them
        raise ValueError(f"{shown} is not UTF-8 text") from None
    start, userinfo, rest, readable = parts(url)
    if not readable:
        raise ValueError(f"{shown}: {UNREADABLE}")
    user, colon, password = (userinfo or "").partition(":")
    if userinfo is not None and not colon:
        raise ValueError(f"{shown}: a user name needs its password (USER:PASSWORD@HOST)")
    check_brackets(rest, shown)
    try:
        each = pika.URLParameters(url[:start] + rest)  # nothing of the user's name or password
    except Exception as exc:  # pika raises ValueError, IndexError, ... for a bad URL
        raise ValueError(f"{shown}: {without_key_password(str(exc))}") from None
    if userinfo is not None:  # as pika reads them
        each.credentials = pika.PlainCredentials(urllib.parse.unquote(user), urllib.parse.unquote(password))
    # Names the connection in the broker's lists and management UI.
    each.client_properties = {
        "connection_name": f"{SCRIPT} (pid {os.getpid()})",
        **(each.client_properties or {}),
    }
    # --timeout bounds the connection's set-up, unless the URL says otherwise.
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url[:start] + rest).query)
    if "stack_timeout" not in query:
        each.stack_timeout = timeout
    if "socket_timeout" not in query:
        each.socket_timeout = min(each.socket_timeout, timeout)
    return each


def check_brackets(rest, shown):
    """An IPv6 host in brackets is one, whatever Python's urlsplit checks
    (3.11.4 and later do; 3.10 takes [zz] and the connection fails later)."""
    host = rest[:_host_end(rest)]
    if host.startswith("[") and "]" in host:  # without its "]", urlsplit says: Invalid IPv6 URL
        inside = host[1:].partition("]")[0]
        try:
            ipaddress.IPv6Address(inside.partition("%")[0])  # %25eth0: a zone
        except ValueError:
            raise ValueError(f"{shown}: {inside!r} in brackets is not an IPv6 address") from None


def _host_end(text):
    return min([i for i in map(text.find, "/?#") if i >= 0], default=len(text))


def parts(url):
    """(start, userinfo, rest, readable): url is url[:start] (the scheme and
    '//'), then userinfo and '@' (userinfo None if it has none), then rest.
    Not readable if an '@' comes after the host part (which the first '/',
    '?' or '#' ends): then userinfo runs to the last '@', to hide it all."""
    scheme = SCHEME.match(url)
    start = scheme.end() if scheme else 0
    after = url[start:]
    host_end = _host_end(after)
    readable = "@" not in after[host_end:]
    at = after.rfind("@", 0, host_end if readable else len(after))
    if at < 0:
        return start, None, after, readable
    return start, after[:at], after[at + 1:], readable


def masked(urls):
    """The URLs (one, or several separated by commas) with their passwords as
    ***, fit to be shown; where a URL cannot be read, all before its host."""
    return ",".join(_masked(url) for url in URL_SEPARATOR.split(urls))


def _masked(url):
    start, userinfo, rest, readable = parts(url)
    if userinfo is not None and not readable:
        url = f"{url[:start]}***@{rest}"
    elif userinfo is not None and ":" in userinfo:
        url = f"{url[:start]}{userinfo.partition(':')[0]}:***@{rest}"
    return without_key_password(url)


def without_key_password(text):
    return KEY_PASSWORD.sub(r"\1\2***\2", text)


def without_passwords(text, words):
    """`text` with each of `words` (the command line's, AMQP_URL) that holds
    a password shown masked, as it is and as repr() shows it: argparse
    echoes a word it refuses (unrecognized arguments: amqp://u:p@h/)."""
    candidates = set()
    for word in words:
        candidates.update([word, word.partition("=")[2], *word.split()])
    for word in sorted(candidates, key=len, reverse=True):
        shown = masked(word)
        if shown != word:
            text = text.replace(repr(word), repr(shown)).replace(word, shown)
    return text
