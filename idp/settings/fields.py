"""How one setting is declared: its ``IDP_*`` name, documentation and limits, beside it.

A section is a frozen dataclass whose fields are made with :func:`setting`; the loader
(:mod:`idp.settings.load`) reads each field's :class:`Spec` to find the variable, convert
the text and check the value, and the README table is written from the same specs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which setting and why."""


#: A further check of a converted value: returns a reason when the value is refused.
Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Spec:
    """Everything said about one setting besides its type and default."""

    key: str
    title: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    check: Check | None = None
    #: The default as the README shows it, when the value itself is machine-specific.
    shown: str | None = None


def setting(
    key: str,
    default: Any,
    title: str,
    description: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    check: Check | None = None,
    shown: str | None = None,
) -> Any:
    """A dataclass field for the setting ``key`` (see :class:`Spec`)."""
    spec = Spec(key, title, description, minimum, maximum, choices, check, shown)
    return dataclasses.field(default=default, metadata={"spec": spec})


def spec_of(field: dataclasses.Field[Any]) -> Spec:
    """The :class:`Spec` of a section's field."""
    found: Spec = field.metadata["spec"]
    return found
