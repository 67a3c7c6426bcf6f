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
    demo_mode: bool = False
    sql_echo: bool = False

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
