"""Import profiles: per-supplier header aliases, parsers and row rules, loaded from TOML data.

A new supplier format is a new TOML file, not new code.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from importers.fields import PARSERS, choice_key

BUILTIN_DIR: Final = Path(__file__).with_name("profiles")
KINDS: Final = ("delivery", "install", "mdm", "people")
FORMATS: Final = ("csv", "xlsx")
RULE_KINDS: Final = ("required", "one_of", "equals")

_NAME = re.compile(r"[a-z0-9][a-z0-9\-]*")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ProfileError(ValueError):
    """A profile file that cannot be used, or a profile name that is not known."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def header_key(text: str) -> str:
    """How header cells are compared: case-insensitive, all white space (NBSP too) collapsed."""
    return " ".join(text.replace("\ufeff", "").split()).casefold()


@dataclass(frozen=True)
class FieldSpec:
    """One canonical field: the headers it may appear under and how its cells are parsed."""

    name: str
    aliases: tuple[str, ...]  # the first is the header the supplier normally uses
    parser: str
    required_column: bool
    required_value: bool
    choices: tuple[str, ...] = ()  # canonical values of an "enum" field
    choice_aliases: tuple[tuple[str, str], ...] = ()  # (other spelling, canonical value)

    @property
    def header(self) -> str:
        return self.aliases[0]

    def options(self) -> dict[str, str]:
        """choice_key(spelling) -> canonical value, for fields.parse_choice."""
        options = {choice_key(choice): choice for choice in self.choices}
        options.update({choice_key(alias): value for alias, value in self.choice_aliases})
        return options


@dataclass(frozen=True)
class RowRule:
    """A declarative check across fields of one row, applied by parse.py.

    required: every field in `fields` has a value; one_of: at least one does;
    equals: the single field in `fields` equals `value`. With `when_field`, the rule applies
    only when that field has a value (equal to `when_equals`, if given).
    """

    kind: Literal["required", "one_of", "equals"]
    fields: tuple[str, ...]
    value: str | int | None = None
    when_field: str | None = None
    when_equals: str | int | None = None
    message: str | None = None


@dataclass(frozen=True)
class Profile:
    """A supplier or MDM file layout."""

    name: str
    description: str
    kind: str  # "delivery" | "install" | "mdm" | "people"
    fields: tuple[FieldSpec, ...]
    formats: tuple[str, ...]  # ("csv",) or ("csv", "xlsx")
    rules: tuple[RowRule, ...] = ()

    @property
    def required_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(spec for spec in self.fields if spec.required_column)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def alias_index(self) -> dict[str, str]:
        """header_key(alias) -> canonical field name."""
        return {header_key(alias): spec.name for spec in self.fields for alias in spec.aliases}


# --- loading -------------------------------------------------------------------------------------


def load_profile(path: Path) -> Profile:
    """Read and validate one profile TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return _build_profile(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc.message}") from None


def _build_profile(data: Mapping[str, object]) -> Profile:
    _only_keys(data, {"name", "description", "kind", "formats", "fields", "rules"}, "profile")
    name = _string(data, "name", "profile")
    if not _NAME.fullmatch(name):
        raise ProfileError(f"profile name {name!r} must be lower-case letters, digits and -")
    kind = _string(data, "kind", "profile")
    if kind not in KINDS:
        raise ProfileError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    formats = _strings(data.get("formats", ["csv"]), "formats")
    if not formats or any(fmt not in FORMATS for fmt in formats):
        raise ProfileError(f"formats must be a list drawn from {', '.join(FORMATS)}")
    fields = tuple(_build_field(raw) for raw in _tables(data.get("fields"), "fields"))
    _check_fields(fields)
    names = {spec.name for spec in fields}
    rules = tuple(_build_rule(raw, names) for raw in _tables(data.get("rules", []), "rules"))
    return Profile(
        name=name,
        description=_string(data, "description", "profile"),
        kind=kind,
        fields=fields,
        formats=tuple(formats),
        rules=rules,
    )


def _build_field(raw: Mapping[str, object]) -> FieldSpec:
    allowed = {"name", "aliases", "parser", "required_column", "required_value", "choices"}
    _only_keys(raw, allowed | {"choice_aliases"}, "field")
    name = _string(raw, "name", "field")
    where = f"field {name!r}"
    if not _FIELD_NAME.fullmatch(name):
        raise ProfileError(f"{where}: name must be lower_case_with_underscores")
    aliases = _strings(raw.get("aliases"), f"{where} aliases")
    if not aliases or any(not header_key(alias) for alias in aliases):
        raise ProfileError(f"{where}: aliases must be a non-empty list of header names")
    parser = _string(raw, "parser", where)
    if parser not in PARSERS:
        raise ProfileError(f"{where}: unknown parser {parser!r}; known: {', '.join(PARSERS)}")
    choices = tuple(_strings(raw.get("choices", []), f"{where} choices"))
    if (parser == "enum") != bool(choices):
        raise ProfileError(f"{where}: choices are needed for, and only for, the enum parser")
    choice_aliases = _choice_aliases(raw.get("choice_aliases", {}), choices, where)
    return FieldSpec(
        name=name,
        aliases=tuple(aliases),
        parser=parser,
        required_column=_bool(raw, "required_column", where),
        required_value=_bool(raw, "required_value", where),
        choices=choices,
        choice_aliases=choice_aliases,
    )


def _choice_aliases(
    raw: object, choices: tuple[str, ...], where: str
) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: choice_aliases must be a table of spelling = choice")
    pairs = []
    for alias, value in raw.items():
        if value not in choices:
            raise ProfileError(f"{where}: choice alias {alias!r} maps to unknown {value!r}")
        pairs.append((str(alias), str(value)))
    return tuple(pairs)


def _check_fields(fields: tuple[FieldSpec, ...]) -> None:
    if not fields:
        raise ProfileError("a profile needs at least one [[fields]] entry")
    if not any(spec.required_column for spec in fields):
        raise ProfileError("at least one field needs required_column = true to find the header")
    seen_names: set[str] = set()
    seen_aliases: dict[str, str] = {}
    for spec in fields:
        if spec.name in seen_names:
            raise ProfileError(f"field {spec.name!r} is defined twice")
        seen_names.add(spec.name)
        for alias in spec.aliases:
            owner = seen_aliases.setdefault(header_key(alias), spec.name)
            if owner != spec.name:
                raise ProfileError(f"header {alias!r} is an alias of both {owner} and {spec.name}")


def _build_rule(raw: Mapping[str, object], names: set[str]) -> RowRule:
    keys = {"kind", "fields", "value", "when_field", "when_equals", "message"}
    _only_keys(raw, keys, "rule")
    kind = _string(raw, "kind", "rule")
    if kind not in RULE_KINDS:
        raise ProfileError(f"rule kind must be one of {', '.join(RULE_KINDS)}, not {kind!r}")
    fields = tuple(_strings(raw.get("fields"), f"{kind} rule fields"))
    when_field = raw.get("when_field")
    for name in (*fields, *([when_field] if when_field is not None else [])):
        if name not in names:
            raise ProfileError(f"{kind} rule names unknown field {name!r}")
    if (
        not fields
        or (kind == "equals") != ("value" in raw)
        or (kind == "equals" and len(fields) > 1)
    ):
        raise ProfileError(f"{kind} rule: equals takes one field and a value; others take fields")
    message = raw.get("message")
    if message is not None and not isinstance(message, str):
        raise ProfileError(f"{kind} rule: message must be text")
    return RowRule(
        kind=kind,  # type: ignore[arg-type]  # checked against RULE_KINDS above
        fields=fields,
        value=_scalar(raw.get("value"), "value"),
        when_field=str(when_field) if when_field is not None else None,
        when_equals=_scalar(raw.get("when_equals"), "when_equals"),
        message=message,
    )


# --- small validators for TOML values ------------------------------------------------------------


def _only_keys(data: Mapping[str, object], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ProfileError(f"unknown {what} key(s): {', '.join(unknown)}")


def _string(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{where}: {key} must be a non-empty string")
    return value


def _bool(data: Mapping[str, object], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ProfileError(f"{where}: {key} must be true or false")
    return value


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProfileError(f"{where} must be a list of strings")
    return [str(item) for item in value]


def _tables(value: object, where: str) -> list[dict[str, object]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ProfileError(f"{where} must be an array of tables ([[{where}]])")
    return [dict(item) for item in value]


def _scalar(value: object, where: str) -> str | int | None:
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        return value
    raise ProfileError(f"rule {where} must be text or a whole number")


# --- lookup --------------------------------------------------------------------------------------


@functools.cache
def _builtin() -> tuple[Profile, ...]:
    return tuple(load_profile(path) for path in sorted(BUILTIN_DIR.glob("*.toml")))


def builtin_profiles() -> dict[str, Profile]:
    """The profiles shipped in importers/profiles/, by name."""
    return {profile.name: profile for profile in _builtin()}


def all_profiles(extra_dirs: Sequence[Path] = ()) -> dict[str, Profile]:
    """Built-in profiles plus those in *.toml files of extra_dirs (which may not shadow them)."""
    profiles = builtin_profiles()
    for directory in extra_dirs:
        for path in sorted(Path(directory).glob("*.toml")):
            profile = load_profile(path)
            if profile.name in profiles:
                raise ProfileError(f"{path}: profile {profile.name!r} is already defined")
            profiles[profile.name] = profile
    return profiles


def get_profile(name: str, extra_dirs: Sequence[Path] = ()) -> Profile:
    """The profile called name, built-in or from a *.toml file in extra_dirs."""
    profiles = all_profiles(extra_dirs)
    try:
        return profiles[name]
    except KeyError:
        known = ", ".join(sorted(profiles))
        raise ProfileError(f"unknown import profile {name!r}; known profiles: {known}") from None
