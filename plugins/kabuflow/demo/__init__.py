"""The demo: one command brings up every part of kabuflow and runs a real bulk fetch.

`kabuflow demo` (the Makefile's `make demo`) prepares the app database, loads the
stock master, starts the replay server, Airflow and the API, then drives the API as a
client would and reports what was stored. `kabuflow demo down` (`make down`) stops
every process it started. Local development only: secrets live in files under `var/`.
"""

from kabuflow.demo.config import DemoConfig

__all__ = ["DemoConfig"]
