"""A Yahoo-compatible HTTP server over recorded prices (DESIGN.md decision 10).

yfinance's own request and parsing code runs unchanged against it through the session
from `kabuflow.yahoo_session.make_session`. Start it with `kabuflow replay serve` or,
in Python, `with ReplayServer(data=[...]).running() as url: ...`.
"""

from kabuflow.replay.scenario import Scenario
from kabuflow.replay.server import ReplayServer
from kabuflow.replay.sources import load_store
from kabuflow.replay.store import PriceSeries, PriceStore

__all__ = ["PriceSeries", "PriceStore", "ReplayServer", "Scenario", "load_store"]
