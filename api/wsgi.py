"""The WSGI app gunicorn serves: `gunicorn -c api/gunicorn_conf.py api.wsgi:app`."""

from __future__ import annotations

import logging
import os

from api import create_app

logging.basicConfig(
    level=os.environ.get("KABUFLOW_LOG_LEVEL", "INFO").upper(),
    format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
)

app = create_app()
