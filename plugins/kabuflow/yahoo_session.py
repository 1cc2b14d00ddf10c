"""The one HTTP session yfinance uses: real Yahoo, or a Yahoo-compatible server.

With a `base_url`, every request to a `*.yahoo.com` host (query1, query2, fc, guce,
consent) goes to `base_url` with its path and query kept, and a request to any other
host is refused, so an offline run can never reach the network. yfinance keeps
the Yahoo cookie only when its domain is Yahoo's, so the session also keeps each
cookie the server sets under `.yahoo.com` and sends it back to the server: the
handshake then happens once per process, as it does with Yahoo. yfinance's cookie
cache is an in-memory one for the process (`kabuflow.yfinance_state`), so a cookie
of the replay server never reaches another process, nor a file.

No response cache is ever enabled (yfinance refuses caching sessions).
"""

from __future__ import annotations

import copy
import logging
from http.cookiejar import Cookie
from urllib.parse import urlsplit, urlunsplit

from curl_cffi import requests as curl_requests

from kabuflow.errors import PermanentError

log = logging.getLogger(__name__)

IMPERSONATE = "chrome"
YAHOO_DOMAIN = "yahoo.com"
YAHOO_COOKIE_DOMAIN = ".yahoo.com"


class RefusedHostError(PermanentError):
    """An offline session was asked to reach a host that is neither Yahoo nor local."""


def make_session(base_url: str | None, timeout: float) -> curl_requests.Session:
    """Return a curl_cffi session for yfinance; offline when `base_url` is set.

    `timeout` (seconds) applies to requests that do not pass their own.
    """
    if base_url is None:
        return curl_requests.Session(impersonate=IMPERSONATE, timeout=timeout)
    return RedirectingSession(base_url, impersonate=IMPERSONATE, timeout=timeout)


def is_yahoo_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == YAHOO_DOMAIN or host.endswith("." + YAHOO_DOMAIN)


class RedirectingSession(curl_requests.Session):
    """A session that sends Yahoo's requests to `base_url` and refuses other hosts.

    Raises `RefusedHostError` for any other host. Redirects are never followed, so
    an answer cannot lead the session to a host it would refuse.
    """

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self._base = parts
        self._base_host = parts.hostname.lower()

    def request(self, method, url, *args, **kwargs):
        target = self._target(url)
        kwargs["allow_redirects"] = False
        self._share_yahoo_cookies()
        try:
            return super().request(method, target, *args, **kwargs)
        finally:
            self._keep_server_cookies_as_yahoo()

    def _target(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if (host, parts.port) == (self._base_host, self._base.port):
            return url
        if not is_yahoo_host(host):
            raise RefusedHostError(
                f"offline session refuses {host or url!r}: only Yahoo hosts "
                f"(sent to {self._base.geturl()}) and that server are allowed"
            )
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    def _share_yahoo_cookies(self) -> None:
        # Cookies yfinance restored from its cache carry Yahoo's domain.
        self._copy_cookies(YAHOO_COOKIE_DOMAIN, self._base_host)

    def _keep_server_cookies_as_yahoo(self) -> None:
        self._copy_cookies(self._base_host, YAHOO_COOKIE_DOMAIN)

    def _copy_cookies(self, source: str, target: str) -> None:
        jar = self.cookies.jar
        for cookie in list(jar):
            if cookie.domain.lstrip(".") != source.lstrip("."):
                continue
            existing = _find(jar, target, cookie.path, cookie.name)
            if existing is None or existing.value != cookie.value:
                jar.set_cookie(_moved(cookie, target))


def _find(jar, domain: str, path: str, name: str) -> Cookie | None:
    matches = (c for c in jar if (c.domain, c.path, c.name) == (domain, path, name))
    return next(matches, None)


def _moved(cookie: Cookie, domain: str) -> Cookie:
    moved = copy.copy(cookie)
    moved.domain = domain
    moved.domain_specified = domain.startswith(".")
    moved.domain_initial_dot = domain.startswith(".")
    return moved
