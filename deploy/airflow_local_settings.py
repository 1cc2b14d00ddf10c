"""Airflow local settings of kabuflow: start every task process with its imports done.

Airflow imports this file in each of its processes when it sits in
`$AIRFLOW_HOME/config/` (the local stack links it there; the Dockerfile links it into
the image). In the scheduler only, it imports the fetch task's libraries before the
executor forks its workers (see `kabuflow.stack.warm`). It defines no policy and
changes no setting.
"""

from kabuflow.stack.warm import is_scheduler, warm_task_imports

# Airflow copies every public name of this module into its settings: export none.
__all__: list[str] = []

if is_scheduler():
    warm_task_imports()
