"""Typer options for the settings the CLI shares with the services: the flag and the
``ANNEAL_*`` variable come from the one declaration (services/common/settings.py)."""

from __future__ import annotations

from typing import Any

import typer

from services.common.setting import Setting


def option(setting: Setting[Any], default: Any, help_text: str, show_default: bool = True) -> Any:
    """``setting``'s flag, read from its variable when the flag is absent, else ``default``."""
    return typer.Option(
        default, setting.flag, envvar=setting.env, help=help_text, show_default=show_default
    )
