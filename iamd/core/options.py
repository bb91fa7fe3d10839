"""Declaring settings: each option's type, default, variable, flag and help in one declaration.

A section of settings is a frozen dataclass deriving from :class:`Section`; each field is either an
option, declared with :func:`option`, or a nested section (``field(default_factory=...)``)::

    @dataclass(frozen=True, slots=True)
    class MfaSettings(Section):
        window: int = option(1, env="IAMD_MFA_WINDOW", minimum=0, help="Steps accepted either side.")

The field's annotation is the option's type: ``str``, ``int``, ``float``, ``bool``, ``Path``,
``tuple[str, ...]`` (comma-separated), or ``X | None`` for an option that may be unset.
:func:`options_of` lists the options of a tree of sections with their dotted paths
(``mfa.window``); the loader, the command line, the export to worker processes and
docs/configuration.md are all generated from that list.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")
S = TypeVar("S", bound="Section")

_SPEC = "iamd.option"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A value the settings refuse; the message names the variable or flag that gave it."""


@dataclass(frozen=True, slots=True)
class Spec:
    """What a declaration says about an option besides its name, type and default."""

    env: str
    help: str
    flag: str | None = None
    """The command-line flag (``--port``); None: the variable only."""
    every_command: bool = False
    """The flag is taken by every command that opens the store, not only by ``serve``."""
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    default_text: str | None = None
    """How the documentation shows the default when it is not a plain value (``SQLite in DIR``)."""


def option(
    default: T,
    *,
    env: str,
    help: str,
    flag: str | None = None,
    every_command: bool = False,
    metavar: str | None = None,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    default_text: str | None = None,
) -> T:
    """Declare an option: a dataclass field with its default, carrying its :class:`Spec`."""
    spec = Spec(env, help, flag, every_command, metavar, choices, minimum, maximum, default_text)
    declared: T = dataclasses.field(default=default, metadata={_SPEC: spec})
    return declared


@dataclass(frozen=True, slots=True)
class Option:
    """One declared option, found in a tree of sections."""

    path: str
    """Where it lives in the tree: ``section.name`` (``console.throttle.user_free``)."""
    name: str
    kind: type
    """str, int, float, bool, Path or tuple (of strings)."""
    optional: bool
    """None is a value (the option may be unset)."""
    default: object
    spec: Spec

    @property
    def flags(self) -> tuple[str, ...]:
        """The command-line spellings: a switch that is on by default also has its ``--no-`` form."""
        flag = self.spec.flag
        if flag is None:
            return ()
        if self.kind is bool and self.default is True:
            return flag, "--no-" + flag.removeprefix("--")
        return (flag,)

    @property
    def metavar(self) -> str | None:
        """What the flag's value is called in help (None: a switch, or a choice shown as its choices)."""
        if self.kind is bool or self.spec.choices:
            return None
        return self.spec.metavar or self.name.upper()

    @property
    def shown_default(self) -> str | None:
        """The default as help and the documentation show it (None: unset unless given)."""
        if self.spec.default_text:
            return self.spec.default_text
        if self.kind is bool:
            return "on" if self.default else "off"
        if isinstance(self.default, float):
            return _number(self.default)
        return self.text(self.default)

    @property
    def source(self) -> str:
        """How an error names the option: its variable, and its flag if it has one."""
        return f"{self.spec.env} ({self.spec.flag})" if self.spec.flag else self.spec.env

    def parse(self, text: str, source: str) -> object:
        """The value of ``text`` as given by ``source`` (a variable or a flag)."""
        if self.kind is bool:
            word = text.lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise SettingsError(f"{source} must be 1 or 0 (or true/false, yes/no, on/off), not {text!r}")
        if self.kind is int:
            try:
                return int(text)
            except ValueError:
                raise SettingsError(f"{source} must be a whole number, not {text!r}") from None
        if self.kind is float:
            try:
                return float(text)
            except ValueError:
                raise SettingsError(f"{source} must be a number, not {text!r}") from None
        if self.kind is Path:
            return Path(text)
        if self.kind is tuple:
            return tuple(item.strip() for item in text.split(",") if item.strip())
        return text

    def complaint(self, value: object) -> str | None:
        """What is wrong with ``value`` (None: nothing); the caller names the option."""
        if value is None:
            return None if self.optional else "must be given"
        spec = self.spec
        if spec.choices and value not in spec.choices:
            return f"must be {_one_of(spec.choices)}, not {value!r}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            low, high = spec.minimum, spec.maximum
            if low is not None and high is not None and not low <= value <= high:
                return f"must be between {_number(low)} and {_number(high)}, not {value!r}"
            if low is not None and value < low:
                return f"must be at least {_number(low)}, not {value!r}"
            if high is not None and value > high:
                return f"must be at most {_number(high)}, not {value!r}"
        return None

    def text(self, value: object) -> str | None:
        """``value`` as the variable's text, which :meth:`parse` turns back into it (None: unset)."""
        if value is None:
            return None
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, Path):
            return str(value.resolve())
        if isinstance(value, tuple):
            return ",".join(str(item) for item in value) or None
        return str(value)


def _one_of(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Section:
    """Base of every settings section: checks each option's value when the section is made."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for opt in _own_options(type(self)):
            complaint = opt.complaint(getattr(self, opt.name))
            if complaint is not None:
                raise SettingsError(f"{opt.source} {complaint}")


def _kind(hint: Any) -> tuple[type, bool]:
    """The option type of a field's annotation, and whether None is allowed."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"an option is one type or that type | None, not {hint}")
        hint, optional = args[0], True
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...):
        return tuple, optional
    if hint in (str, int, float, bool, Path):
        return cast(type, hint), optional
    raise TypeError(f"unsupported option type {hint}")


_OWN_OPTIONS: dict[type[Section], tuple[Option, ...]] = {}


def _own_options(cls: type[Section]) -> tuple[Option, ...]:
    """The options declared directly in ``cls`` (paths relative to it)."""
    known = _OWN_OPTIONS.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cast(Any, cls)):
        spec = f.metadata.get(_SPEC)
        if isinstance(spec, Spec):
            kind, optional = _kind(hints[f.name])
            found.append(Option(f.name, f.name, kind, optional, f.default, spec))
    _OWN_OPTIONS[cls] = tuple(found)
    return _OWN_OPTIONS[cls]


def _subsections(cls: type[Section]) -> list[tuple[str, type[Section]]]:
    hints = typing.get_type_hints(cls)
    return [
        (f.name, hints[f.name])
        for f in dataclasses.fields(cast(Any, cls))
        if isinstance(hints[f.name], type) and issubclass(hints[f.name], Section)
    ]


def options_of(cls: type[Section]) -> tuple[Option, ...]:
    """Every option of the tree rooted at ``cls``, in declaration order, with dotted paths."""
    found = list(_own_options(cls))
    for name, sub in _subsections(cls):
        found += [dataclasses.replace(o, path=f"{name}.{o.path}") for o in options_of(sub)]
    return tuple(found)


def sections_of(cls: type[Section], prefix: str = "") -> list[tuple[str, type[Section]]]:
    """The sections below ``cls``, each with its dotted path, depth first."""
    found: list[tuple[str, type[Section]]] = []
    for name, sub in _subsections(cls):
        path = f"{prefix}{name}"
        found += [(path, sub), *sections_of(sub, f"{path}.")]
    return found


def build(cls: type[S], values: Mapping[str, object]) -> S:
    """An instance of ``cls`` with the given options (dotted paths); the others keep their defaults."""
    own = {name: value for name, value in values.items() if "." not in name}
    for name, sub in _subsections(cls):
        prefix = f"{name}."
        below = {path.removeprefix(prefix): v for path, v in values.items() if path.startswith(prefix)}
        own[name] = build(sub, below)
    return cls(**own)


def value_at(tree: Section, path: str) -> object:
    """The value of the option at ``path`` in a tree of sections."""
    value: object = tree
    for part in path.split("."):
        value = getattr(value, part)
    return value
