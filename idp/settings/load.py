"""Read every setting once, at start: ``IDP_*`` environment, then the mapping given to
:func:`idp.create_app`; convert each value to its declared type and check it.

Unknown ``IDP_*`` names: in the mapping they are refused (a misspelt override in a test
or a deployment script must not be silently ignored); in the environment they are only
logged as a warning (other tools share the prefix, e.g. ``IDP_STAFF_USER`` for the CLI
and ``IDP_TEST_*`` for the tests), naming the closest known setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import types
import typing
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from idp.settings.fields import ConfigError
from idp.settings.fields import Spec
from idp.settings.fields import spec_of

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
#: ``IDP_*`` environment variables that are not settings of the provider.
NOT_SETTINGS_PREFIXES = ("IDP_TEST_", "IDP_STAFF_USER")


def sections(root: type[Any]) -> Iterator[tuple[str, type[Any]]]:
    """``(attribute, section class)`` for each section of the root settings class."""
    hints = typing.get_type_hints(root)
    for item in dataclasses.fields(root):
        yield item.name, hints[item.name]


def section_specs(section: type[Any]) -> Iterator[tuple[dataclasses.Field[Any], Any, Spec]]:
    """``(field, type, spec)`` for each setting of a section."""
    hints = typing.get_type_hints(section)
    for item in dataclasses.fields(section):
        yield item, hints[item.name], spec_of(item)


def known_keys(root: type[Any]) -> set[str]:
    """Every ``IDP_*`` name the settings declare."""
    return {spec.key for _, section in sections(root) for _, _, spec in section_specs(section)}


def load(root: type[Any], environ: Mapping[str, str], overrides: Mapping[str, Any]) -> Any:
    """The settings from ``environ`` (text) overridden by ``overrides`` (typed or text).

    :raises ConfigError: naming the first setting that is missing its type or range, and
        any unknown ``IDP_*`` name in ``overrides``.
    """
    known = known_keys(root)
    unknown = sorted(key for key in overrides if key.startswith("IDP_") and key not in known)
    if unknown:
        raise ConfigError(_unknown_message(unknown[0], known))
    _warn_unknown(environ, known)
    built: dict[str, Any] = {}
    for name, section in sections(root):
        values: dict[str, Any] = {}
        for item, kind, spec in section_specs(section):
            if spec.key in overrides:
                values[item.name] = convert(spec, kind, overrides[spec.key])
            elif spec.key in environ:
                values[item.name] = convert(spec, kind, environ[spec.key])
            else:
                values[item.name] = convert(spec, kind, item.default)
        built[name] = section(**values)
    return root(**built)


def convert(spec: Spec, kind: Any, raw: Any) -> Any:
    """``raw`` as the declared type, checked against the spec's limits.

    :raises ConfigError: with the setting's name and the rule it breaks.
    """
    if typing.get_origin(kind) is typing.Literal:
        kind = str  # the spec's choices name the values
    union = typing.get_origin(kind) in (typing.Union, types.UnionType)
    args = typing.get_args(kind) if union else ()
    optional = type(None) in args
    base = next((arg for arg in args if arg is not type(None)), kind)
    if raw is None or (optional and raw == ""):
        if optional:
            return None
        raise ConfigError(f"{spec.key} must be set")
    value = _as_type(spec.key, base, raw)
    if spec.choices:
        value = _choice(spec, value)
    _check(spec, value)
    return value


def _choice(spec: Spec, value: Any) -> str:
    """The declared spelling of ``value`` (compared without case or surrounding blanks)."""
    for choice in spec.choices:
        if str(value).strip().lower() == choice.lower():
            return choice
    raise ConfigError(f"{spec.key} must be one of {', '.join(spec.choices)}, not {value!r}")


def _as_list(key: str, item: Any, raw: Any) -> tuple[Any, ...]:
    """A comma-separated text (or a sequence) as a tuple of ``item``: text, or networks."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    texts = [str(part).strip() for part in parts if str(part).strip()]
    if item is str:
        return tuple(texts)
    try:
        return tuple(ipaddress.ip_network(text, strict=False) for text in texts)
    except ValueError:
        raise ConfigError(f"{key} must list addresses or CIDR networks") from None


def _as_type(key: str, base: Any, raw: Any) -> Any:
    if typing.get_origin(base) is tuple:
        return _as_list(key, typing.get_args(base)[0], raw)
    if base is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"{key} must be 1 or 0 (true or false), not {raw!r}")
    if base is int:
        if isinstance(raw, bool | float):
            raise ConfigError(f"{key} must be a whole number, not {raw!r}")
        try:
            return int(str(raw).strip()) if not isinstance(raw, int) else raw
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
    if base is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} must be a number, not {raw!r}")
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number, not {raw!r}") from None
    if not isinstance(raw, str):
        raise ConfigError(f"{key} must be text, not {raw!r}")
    return raw


def _check(spec: Spec, value: Any) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise ConfigError(f"{spec.key} must be at least {_number(spec.minimum)}, not {value}")
    if spec.maximum is not None and value > spec.maximum:
        raise ConfigError(f"{spec.key} must be at most {_number(spec.maximum)}, not {value}")
    if spec.check is not None:
        reason = spec.check(value)
        if reason:
            raise ConfigError(f"{spec.key} {reason}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _unknown_message(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{key} is not a setting{hint}"


def _warn_unknown(environ: Mapping[str, str], known: set[str]) -> None:
    for key in sorted(environ):
        if (
            key.startswith("IDP_")
            and key not in known
            and not key.startswith(NOT_SETTINGS_PREFIXES)
        ):
            logging.getLogger("idp").warning("%s; ignored", _unknown_message(key, known))
