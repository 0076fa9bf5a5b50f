"""A subject-access report as an XLSX workbook: one sheet per part, every text cell
formula-safe (``fleetsvc.spreadsheets`` writes text through ``fleetsvc.exports.safe_cell``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from fleetsvc.audit import Event
from fleetsvc.errors import ValidationFailed
from fleetsvc.people import RECORD_FIELDS
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE, Cell, Column, Sheet, workbook_bytes
from fleetsvc.subject_access.report import MdmRecord, SubjectAccess

FORMATS = ("json", "xlsx")


def output_format(fmt: str | None, accept: str | None) -> str:
    """``format=`` wins, exactly as the document's enum lists it (``FORMATS``; an empty one
    is a 422 too); else ``Accept`` naming the XLSX type; else JSON."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValidationFailed.one("format", "one of json, xlsx")
        return fmt
    return "xlsx" if XLSX_MEDIA_TYPE in (accept or "").lower() else "json"


def filename(report: SubjectAccess) -> str:
    return f"subject-access-person-{report.person_id}-{report.generated_at:%Y%m%d}.xlsx"


def _cell(value: Any) -> Cell:
    """A value as a cell: times as ISO text (a date cell would drop the time), yes/no,
    structures as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, int | dt.date):
        return value
    return msgspec.json.encode(value).decode()


def _sheet(name: str, headings: Sequence[str], rows: Sequence[Sequence[Any]]) -> Sheet:
    return Sheet(
        name=name,
        columns=[Column(h, "text") for h in headings],
        rows=[[_cell(v) for v in row] for row in rows],
    )


def _events_sheet(name: str, events: Sequence[Event]) -> Sheet:
    return _sheet(
        name,
        (
            "event",
            "occurred_at",
            "actor",
            "role",
            "request",
            "entity",
            "entity_id",
            "action",
            "before",
            "after",
        ),
        [
            (
                e.id,
                e.occurred_at,
                e.actor_name,
                e.actor_role,
                e.request_id,
                e.entity,
                e.entity_id,
                e.action,
                e.before,
                e.after,
            )
            for e in events
        ],
    )


def _person_sheet(report: SubjectAccess) -> Sheet:
    p = report.person
    person_rows: list[tuple[str, Any]] = [
        ("id", p.id),
        *((f, getattr(p, f)) for f in RECORD_FIELDS),
        ("version", p.version),
        ("created_at", p.created_at),
        ("updated_at", p.updated_at),
        ("pseudonymised", report.pseudonymised),
        ("pseudonymised_at", report.pseudonymised_at),
    ]
    if report.notice:
        person_rows.append(("notice", report.notice))
    return _sheet("Person", ("field", "value"), person_rows)


def _versions_sheet(report: SubjectAccess) -> Sheet:
    return _sheet(
        "Versions",
        ("version", "event", "occurred_at", "actor", "action", *RECORD_FIELDS),
        [
            (
                v.version,
                v.event_id,
                v.occurred_at,
                v.actor_name,
                v.action,
                *(v.record.get(f) for f in RECORD_FIELDS),
            )
            for v in report.versions
        ],
    )


def _devices_sheet(report: SubjectAccess) -> Sheet:
    return _sheet(
        "Devices",
        (
            "asset",
            "serial",
            "imei",
            "asset_tag",
            "manufacturer",
            "model",
            "category",
            "status now",
            "held from",
            "held until",
            "end reason",
        ),
        [
            (
                d.asset_id,
                d.serial_number,
                d.imei,
                d.asset_tag,
                d.manufacturer,
                d.model_name,
                d.category,
                d.status_now,
                d.held_from,
                d.held_until,
                d.end_reason,
            )
            for d in report.devices
        ],
    )


def _sims_sheet(report: SubjectAccess) -> Sheet:
    return _sheet(
        "SIMs",
        ("asset", "sim", "iccid", "msisdn", "fitted", "removed"),
        [
            (d.asset_id, s.sim_id, s.iccid, s.msisdn, s.fitted_at, s.removed_at)
            for d in report.devices
            for s in d.sims
        ],
    )


def _accounts_sheet(report: SubjectAccess) -> Sheet:
    return _sheet(
        "Accounts",
        ("user", "email", "role", "active", "created", "disabled", "last sign-in", "sessions"),
        [
            (
                a.id,
                a.email,
                a.role,
                a.active,
                a.created_at,
                a.disabled_at,
                a.last_sign_in_at,
                a.sessions,
            )
            for a in report.user_accounts
        ],
    )


def subject_access_xlsx(report: SubjectAccess) -> bytes:
    sheets = [
        _person_sheet(report),
        _versions_sheet(report),
        _devices_sheet(report),
        _sims_sheet(report),
        _sheet(
            "Recovery cases",
            ("case", "status", "record", "lines"),
            [(c.id, c.status, c.record, c.lines) for c in report.recovery_cases or []],
        ),
        _sheet(
            "MDM records",
            MdmRecord.__struct_fields__,
            [[getattr(m, f) for f in MdmRecord.__struct_fields__] for m in report.mdm_records],
        ),
        _accounts_sheet(report),
        _events_sheet("Events about", report.events_about),
        _events_sheet("Events by", report.events_by),
    ]
    return workbook_bytes(
        sheets,
        [
            ("Report", "Subject access (UK GDPR Art. 15)"),
            ("Person", report.person_id),
            ("Generated at", report.generated_at.isoformat()),
            ("Pseudonymised", "yes" if report.pseudonymised else "no"),
            (
                "Recovery cases",
                "not held by this service" if report.recovery_cases is None else "included",
            ),
        ],
    )
