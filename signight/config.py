"""Typed, fail-fast reading of environment variables: the only code that touches os.environ.

Every variable the server understands is read through `Env`, which records its name in
`READ_VARIABLES` (the ops tests compare that set with what the Kubernetes manifests provide).
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

READ_VARIABLES: set[str] = set()

_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A variable is malformed or missing; the message names it (one line, no traceback)."""


class Env:
    """Reads and converts variables from one mapping (os.environ by default).

    Its methods are named after the types they return (env.int, env.str), so annotations inside
    the class spell the types `builtins.int` and so on.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def _raw(self, name: str, default: object) -> str | object:
        READ_VARIABLES.add(name)
        value = self._environ.get(name)
        if value is None:
            if default is _MISSING:
                raise ConfigError(f"{name} is required but not set")
            return default
        return value.strip()

    def _convert(self, name: str, default: object, convert: Callable[[str], T]) -> T:
        raw = self._raw(name, default)
        if not isinstance(raw, str):
            return raw  # type: ignore[return-value]  # the default, as given
        try:
            return convert(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r}: {exc}") from None

    def str(self, name: builtins.str, default: object = _MISSING) -> builtins.str:
        return self._convert(name, default, lambda raw: raw)

    def bool(self, name: builtins.str, default: object = _MISSING) -> builtins.bool:
        def convert(raw: builtins.str) -> builtins.bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError("expected one of 1/0, true/false, yes/no, on/off")

        return self._convert(name, default, convert)

    def int(
        self,
        name: builtins.str,
        default: object = _MISSING,
        *,
        min: builtins.int | None = None,
        max: builtins.int | None = None,
    ) -> builtins.int:
        def convert(raw: builtins.str) -> builtins.int:
            try:
                value = int(raw)
            except ValueError:
                raise ValueError("expected a whole number") from None
            _check_range(value, min, max)
            return value

        return self._convert(name, default, convert)

    def float(
        self,
        name: builtins.str,
        default: object = _MISSING,
        *,
        min: builtins.float | None = None,
        max: builtins.float | None = None,
    ) -> builtins.float:
        def convert(raw: builtins.str) -> builtins.float:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError("expected a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("expected a finite number")
            _check_range(value, min, max)
            return value

        return self._convert(name, default, convert)

    def port(self, name: builtins.str, default: object = _MISSING) -> builtins.int:
        return self.int(name, default, min=1, max=65535)

    def url(
        self, name: builtins.str, default: object = _MISSING, *, schemes: tuple[builtins.str, ...]
    ) -> builtins.str:
        def convert(raw: builtins.str) -> builtins.str:
            parts = urlsplit(raw)
            if parts.scheme not in schemes:
                raise ValueError(f"scheme must be one of {', '.join(schemes)}")
            if not parts.netloc and parts.scheme != "unix":
                raise ValueError("missing host")
            return raw

        return self._convert(name, default, convert)

    def list(self, name: builtins.str, default: object = _MISSING) -> builtins.list[builtins.str]:
        return self._convert(
            name, default, lambda raw: [item.strip() for item in raw.split(",") if item.strip()]
        )

    def addresses(
        self, name: builtins.str, default: object = _MISSING
    ) -> builtins.list[tuple[builtins.str, builtins.int]]:
        """Comma-separated `host:port` pairs (e.g. Redis Sentinels)."""

        def convert(raw: builtins.str) -> builtins.list[tuple[builtins.str, builtins.int]]:
            pairs = []
            for item in (part.strip() for part in raw.split(",")):
                if not item:
                    continue
                host, sep, port = item.rpartition(":")
                if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                    raise ValueError(f"{item!r} is not host:port")
                pairs.append((host, int(port)))
            return pairs

        return self._convert(name, default, convert)

    def choice(
        self, name: builtins.str, default: object = _MISSING, *, choices: tuple[builtins.str, ...]
    ) -> builtins.str:
        def convert(raw: builtins.str) -> builtins.str:
            if raw.lower() not in choices:
                raise ValueError(f"expected one of {', '.join(choices)}")
            return raw.lower()

        return self._convert(name, default, convert)


def _check_range(value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ValueError(f"must be at least {low}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high}")
