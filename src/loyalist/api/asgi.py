"""ASGI entry point for uvicorn/gunicorn: `loyalist.api.asgi:app`.

This is the production entry, so it refuses unsafe settings (a default secret key outside demo
mode) before serving anything, and sets up structured logging.
"""

from loyalist.api.app import create_app, warm_dashboard
from loyalist.api.observability import configure_logging
from loyalist.config import check_production_ready, get_settings

_settings = get_settings()
check_production_ready(_settings)
configure_logging(_settings.log_format, _settings.log_level)
app = create_app(_settings)
if _settings.warm_dashboard:
    warm_dashboard(app)
