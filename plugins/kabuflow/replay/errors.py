"""Errors of the replay server, in kabuflow's hierarchy."""

from __future__ import annotations

from kabuflow.errors import InvalidRequestError, PermanentError


class DataSourceError(PermanentError):
    """A data file the replay server was given cannot be read as prices."""


class ScenarioError(InvalidRequestError):
    """A scenario is malformed; `field` names the offending entry."""


class YahooRefusal(PermanentError):
    """An answer Yahoo gives instead of data: HTTP `status` with its error JSON.

    `root` is the JSON's top-level key (`chart`, `quoteSummary`, `finance`).

    Raised inside the replay server and turned into a response in one place.
    """

    def __init__(self, status: int, code: str, description: str, root: str = "chart"):
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.root = root
