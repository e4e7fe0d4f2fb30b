"""One setting declared once: field, flag, ``ANNEAL_*`` variable, default and parser together.

A process's settings are a frozen dataclass whose fields are :meth:`Setting.field` s (or nested
dataclasses of them); :func:`read_settings` fills it once at start-up from the command line and
the environment: a flag wins over its variable, which wins over the default. A bad value stops
the process with one line that names the flag and its variable (exit status 2). The CLI takes a
setting's flag and variable from the same declaration (services/cli/setting_options.py).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar, get_type_hints

from services.common.shown import shown

T = TypeVar("T")
S = TypeVar("S")

_DECLARATION = "setting"


@dataclass(frozen=True, eq=False)
class Setting(Generic[T]):
    """How one setting is given (``flag``, ``env``), what it is without either (``default``)
    and how the given text becomes its value (``parse``: ValueError saying what is expected)."""

    flag: str
    env: str
    default: T
    help: str
    parse: Callable[[str], T]

    def field(self) -> Any:
        """A dataclass field holding this setting (its default is the setting's; a copy of it
        for each instance when it is mutable, e.g. a dict)."""
        if type(self.default).__hash__ is None:
            default = self.default
            return dataclasses.field(
                default_factory=lambda: copy.copy(default), metadata={_DECLARATION: self}
            )
        return dataclasses.field(default=self.default, metadata={_DECLARATION: self})

    def but(self, help_text: str) -> Setting[T]:
        """The same setting, described for another reader (e.g. the web app's TLS CA)."""
        return dataclasses.replace(self, help=help_text)


def text(value: str) -> str:
    return value


def integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("expected a whole number") from None


def number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError("expected a number") from None


def positive(value: str) -> int:
    count = integer(value)
    if count < 1:
        raise ValueError(f"expected a positive integer, got {count}")
    return count


def count(value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"a whole number of 0 or more, not {shown(value)}")
    return int(value)


def port_number(value: str) -> int:
    port = integer(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is outside 0..65535 (0 picks a free port)")
    return port


def boolean(value: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off)."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {shown(value)}")


def log_level(value: str) -> str:
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"unknown log level {shown(value)}; use DEBUG, INFO, WARNING or ERROR")
    return level


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see --help)\n")
        raise SystemExit(2)


def _declared(
    kind: type, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Setting[Any]]]:
    """(field path, setting) of every setting of a settings dataclass, nested groups included."""
    hints = get_type_hints(kind)
    for item in dataclasses.fields(kind):
        declared = item.metadata.get(_DECLARATION)
        if declared is not None:
            yield (*prefix, item.name), declared
        elif dataclasses.is_dataclass(hints[item.name]):
            yield from _declared(hints[item.name], (*prefix, item.name))
        else:
            raise TypeError(f"{kind.__name__}.{item.name} is neither a Setting nor a group of them")


def settings_of(kind: type) -> tuple[Setting[Any], ...]:
    """The settings a settings dataclass reads, in declaration order."""
    return tuple(setting for _, setting in _declared(kind))


def _built(kind: type[S], values: Mapping[tuple[str, ...], Any], prefix: tuple[str, ...]) -> S:
    hints = get_type_hints(kind)
    fields = {
        item.name: (
            values[(*prefix, item.name)]
            if _DECLARATION in item.metadata
            else _built(hints[item.name], values, (*prefix, item.name))
        )
        for item in dataclasses.fields(kind)  # type: ignore[arg-type]
    }
    return kind(**fields)


def _parsed(setting: Setting[T], raw: str, from_env: bool) -> T:
    try:
        return setting.parse(raw)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        origin = f"in {setting.env}" if from_env else f"(its variable: {setting.env})"
        sys.stderr.write(f"error: {setting.flag}: invalid value {shown(raw)} {origin}: {exc}\n")
        raise SystemExit(2) from None


def read_settings(
    kind: type[S],
    argv: Sequence[str] | None,
    environ: Mapping[str, str] | None,
    prog: str,
    description: str,
    defaults: Mapping[str, Any] | None = None,
) -> S:
    """``kind`` filled from ``argv`` (default ``sys.argv[1:]``) and ``environ`` (default
    ``os.environ``); ``defaults`` (by variable) replaces some declared defaults (a service's
    catalog ports).

    SystemExit: status 2 on a bad value, 0 after ``--help``, one line naming what is wrong
    when the values contradict each other (the dataclass raised ValueError).
    """
    env = os.environ if environ is None else environ
    overrides = defaults or {}
    parser = _OneLineParser(prog=prog, description=description)
    declared = list(_declared(kind))
    for path, setting in declared:
        default = overrides.get(setting.env, setting.default)
        parser.add_argument(
            setting.flag,
            dest=".".join(path),
            default=None,
            metavar=setting.flag.lstrip("-").upper().replace("-", "_"),
            help=f"{setting.help} (env {setting.env}; default {default})".replace("%", "%%"),
        )
    given = vars(parser.parse_args(argv))
    values: dict[tuple[str, ...], Any] = {}
    for path, setting in declared:
        flag, variable = given[".".join(path)], env.get(setting.env)
        if flag is not None:
            values[path] = _parsed(setting, flag, from_env=False)
        elif variable is not None:
            values[path] = _parsed(setting, variable, from_env=True)
        else:
            values[path] = copy.copy(overrides.get(setting.env, setting.default))
    try:
        return _built(kind, values, ())
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
