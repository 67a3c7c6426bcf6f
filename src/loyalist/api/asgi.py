"""ASGI entry point for uvicorn/gunicorn: `loyalist.api.asgi:app`."""

from loyalist.api.app import create_app

app = create_app()
