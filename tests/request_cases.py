"""Requests of the wrong shape from cases A5 and A2, each with the field to blame.

One list for every layer that must refuse them: the request parser, the DAG's `Param`
schema under `dag.test()` and on the real Airflow, and the API on the real stack.
"""

from __future__ import annotations

MALFORMED_REQUESTS = [
    # Case A5: the shapes a client gets wrong.
    ({"symbols": "7203.T", "interval": "1d", "period": "1y"}, "symbols"),
    ({"symbols": [1, 2], "interval": "1d", "period": "1y"}, "symbols"),
    ({"symbols": ["7203.T"], "interval": "7m", "period": "1y"}, "interval"),
    ({"symbols": ["7203.T"], "interval": "1d", "period": "-1d"}, "period"),
    ({"symbols": ["7203.T"], "period": "1y"}, "interval"),
    # Case A2: an empty work set is refused, not mapped.
    ({"symbols": [], "interval": "1d", "period": "1y"}, "symbols"),
]
MALFORMED_IDS = [
    "symbols-a-string",
    "symbols-numbers",
    "interval-7m",
    "period-negative",
    "no-interval",
    "no-symbols",
]
