"""The staff console: server-rendered pages under /console, with its own session auth.

`mount(app)` attaches it to the API application (the API factory looks it up by name, so the API
package never imports this one). The console reuses the API's permission table, so a role sees
in the browser exactly what its API keys may do.
"""

from __future__ import annotations

from typing import Any

PREFIX = "/console"


def mount(app: Any) -> None:
    """Mount the console on `app` (a FastAPI application created by `loyalist.api.app.create_app`)."""
    from loyalist.web.app import create_console

    app.mount(PREFIX, create_console(app), name="console")
