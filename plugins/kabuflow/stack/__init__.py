"""The local Airflow stack: configuration, secrets, processes, start and stop.

`python -m kabuflow.stack up|down|status` (the Makefile's `airflow-*` targets) and the
tests' session fixture use the same `AirflowStack`; the demo adds its own processes
with `kabuflow.stack.processes.ManagedProcess`.
"""

from kabuflow.stack.airflow_stack import AirflowStack, ComponentStatus, StackStatus
from kabuflow.stack.config import YAHOO_POOL, StackConfig

__all__ = [
    "YAHOO_POOL",
    "AirflowStack",
    "ComponentStatus",
    "StackConfig",
    "StackStatus",
]
