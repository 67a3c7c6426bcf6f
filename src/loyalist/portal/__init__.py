"""The customer self-service portal: server-rendered pages under /portal.

Mounted by the API app factory. Customers authenticate with a one-time code or magic link
(`loyalist.customer_auth`); every page works only on the signed-in customer's own data — no
page takes a customer id from the URL, and case pages check ownership.
"""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    from loyalist.portal import account_routes, auth_routes, care_routes, profile_routes
    from loyalist.portal.render import STATIC_DIR, install_handlers

    install_handlers(app)
    for module in (auth_routes, account_routes, profile_routes, care_routes):
        app.include_router(module.router)
    app.mount("/portal/static", StaticFiles(directory=STATIC_DIR), name="portal-static")
