"""Settings read from `LOYALIST_*` environment variables and an optional `.env` file.

One `Settings` object describes a running installation; tests build their own instead of
mutating globals, which is why `get_settings()` is cached but `Settings(...)` is cheap.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me-insecure-dev-secret"


class Settings(BaseSettings):
    """Runtime configuration; every field maps to `LOYALIST_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="LOYALIST_", env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///./loyalist.db", description="SQLAlchemy URL")
    secret_key: str = Field(default=DEFAULT_SECRET, description="Signs links, sessions, webhooks")
    point_value: Decimal = Field(default=Decimal("0.01"), description="Money value of one point")
    timezone: str = Field(default="UTC", description="Business timezone for days, caps, birthdays")
    default_currency: str = Field(default="EUR", min_length=3, max_length=3)
    clawback_policy: Literal["allow_negative", "cap_at_balance"] = Field(
        default="allow_negative",
        description="Returns after the points were spent: debt repaid later, or take what is there",
    )
    config_cache_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="How long a process reuses earning rules and API-key checks before re-reading them "
                    "(changes made in the same process apply at once; 0 = always re-read)")
    demo_mode: bool = False
    api_threads: int = Field(default=40, ge=1, le=256,
                             description="Worker threads per API process running endpoints (database work)")
    sql_echo: bool = False
    warm_dashboard: bool = Field(
        default=True, description="Compute the console dashboard's figures in the background when a server "
                                  "process starts, so the first view is a cache read")
    trust_forwarded_for: bool = Field(
        default=False, description="Take the client address from X-Forwarded-For (only behind your own proxy)")
    log_format: Literal["json", "text"] = Field(default="json", description="Log lines as JSON or plain text")
    log_level: str = Field(default="INFO", description="Python logging level")
    # where customers reach us: signed links (surveys, unsubscribe, portal sign-in) are built on it
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="Base URL in emailed links")
    business_name: str = Field(default="Loyalist demo shop", description="Shown in messages and pages")
    # outgoing email
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server for email")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = Field(default="Loyalist <no-reply@loyalist.local>", description="From: of every email")
    # outgoing SMS through a generic HTTP gateway
    sms_gateway_url: str | None = Field(default=None, description="POST endpoint of the SMS gateway")
    sms_gateway_token: str | None = None
    sms_provider: str = Field(default="generic_http", description="SMS transport class name")

    @field_validator("default_currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)  # raises for an unknown zone, naming it
        return value


class UnsafeConfiguration(ValueError):
    """The settings are fine for a demo or a test, not for serving real customers."""


def check_production_ready(settings: Settings) -> None:
    """Refuse to serve with settings that would be unsafe in production.

    Why at start-up: a default secret key lets anyone forge survey links, portal sign-in links,
    unsubscribe links and webhook signatures. Demo mode (`loyalist demo`) is the one exception.
    """
    if settings.demo_mode:
        return
    problems = []
    if settings.secret_key == DEFAULT_SECRET:
        problems.append("LOYALIST_SECRET_KEY is the built-in default; set a random secret "
                        "(python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    elif len(settings.secret_key) < 32:
        problems.append("LOYALIST_SECRET_KEY is shorter than 32 characters")
    if problems:
        raise UnsafeConfiguration("; ".join(problems))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
