"""A profile's row rules (required with, one of, must be): checked on a row once its cells
are converted, each broken rule a row error naming the column."""

from __future__ import annotations

from collections.abc import Mapping

from importers.profiles import Profile, RowRule
from importers.rows import ParsedRow, RowIssue


def apply_rules(profile: Profile, row: ParsedRow, headers: Mapping[str, str]) -> None:
    failed = {issue.column for issue in row.errors}
    for rule in profile.rules:
        # A field that failed to parse already has its error; its value is unknown here.
        if failed:
            involved = (*rule.fields, *([rule.when_field] if rule.when_field else []))
            if any(headers.get(name) in failed for name in involved if name in headers):
                continue
        if not _rule_applies(rule, row):
            continue
        broken = _broken_fields(rule, row)
        if broken:
            column = headers.get(broken[0]) or profile.field(broken[0]).header
            value = row.raw.get(broken[0])
            message = rule.message or _rule_message(rule, profile, broken)
            row.errors.append(RowIssue(row.row, column, value, message, "error"))


def _rule_applies(rule: RowRule, row: ParsedRow) -> bool:
    if rule.when_field is None:
        return True
    current = row.values.get(rule.when_field)
    if rule.when_equals is None:
        return current is not None
    return current == rule.when_equals


def _broken_fields(rule: RowRule, row: ParsedRow) -> list[str]:
    if rule.kind == "required":
        return [name for name in rule.fields if row.values.get(name) is None]
    if rule.kind == "one_of":
        present = any(row.values.get(name) is not None for name in rule.fields)
        return [] if present else list(rule.fields)
    name = rule.fields[0]
    current = row.values.get(name)
    return [] if current is None or current == rule.value else [name]


def _rule_message(rule: RowRule, profile: Profile, broken: list[str]) -> str:
    names = ", ".join(profile.field(name).header for name in broken)
    condition = ""
    if rule.when_field is not None:
        when = profile.field(rule.when_field).header
        condition = f" when {when} is {rule.when_equals}" if rule.when_equals else f" with {when}"
    if rule.kind == "required":
        return f"{names} is required{condition}"
    if rule.kind == "one_of":
        return f"one of {names} is required"
    return f"{names} must be {rule.value}{condition}"
