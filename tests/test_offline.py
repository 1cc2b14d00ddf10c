"""The test session cannot reach beyond this machine (see `tests/offline.py`)."""

from __future__ import annotations

import socket

import httpx
import pytest
from offline import OFFLINE_YAHOO_URL, OffSiteError

from kabuflow.errors import RetryableError
from kabuflow.intervals import FetchWindow
from kabuflow.settings import get_settings
from kabuflow.source import YahooSource


@pytest.mark.parametrize(
    "address", [("192.0.2.1", 80), ("query1.finance.yahoo.com", 443)]
)
def test_a_python_socket_to_elsewhere_is_refused(address):
    with socket.socket() as sock, pytest.raises(OffSiteError):
        sock.connect(address)


def test_httpx_to_yahoo_is_refused_before_any_packet():
    with pytest.raises(httpx.ConnectError) as refused:
        httpx.get("http://93.184.215.14/", timeout=2)

    assert "tests stay on this machine" in str(refused.value)


def test_loopback_stays_open():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass


def test_a_source_nobody_pointed_anywhere_reaches_a_closed_local_port():
    assert get_settings().yahoo_url == OFFLINE_YAHOO_URL
    source = YahooSource()

    with source, pytest.raises(RetryableError) as failed:
        source.fetch("7203.T", FetchWindow("1d", period="5d"))

    assert source.base_url == OFFLINE_YAHOO_URL
    assert failed.value.reason == "network_error"
