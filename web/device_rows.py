"""The device list's rows, written here rather than in the template: the list page is timed
against the API's JSON for the same 100 assets (bench/pages.py), and Jinja's machinery per
cell cost as much as the rest of the page. Every value is escaped (``markupsafe.escape``,
as the template would); ``devices.html`` holds the table around them.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from fleetsvc.assets.document import Asset
from web.device_actions import STATUS_TAGS, STATUS_WORDS
from web.formats import day

NONE = "—"


def _holder(a: Asset) -> str:
    h = a.holder
    if h is None:
        return NONE
    if h.kind == "person":
        return (
            f'<a href="/people/{h.person_id}">{escape(h.display_name or "")}</a>'
            f'<span class="sub">{escape(h.employee_number or "")}</span>'
        )
    return (
        f'<a href="/vehicles/{h.vehicle_id}">{escape(h.vrm or "")}</a>'
        f'<span class="sub">fleet {escape(h.fleet_number or "")}</span>'
    )


def device_row(a: Asset) -> str:
    """One ``<tr>``: the device (serial, tag and IMEI), model, status, holder, where it is
    kept, its phone number, its refresh date."""
    sub = " · ".join(x for x in (a.asset_tag, a.imei) if x)
    ids = f'<span class="sub">{escape(sub)}</span>' if sub else ""
    msisdn = a.sim.msisdn if a.sim and a.sim.msisdn else NONE
    return (
        f'<tr><td><a href="/devices/{a.id}">{escape(a.serial_number)}</a>{ids}</td>'
        f"<td>{escape(a.model.manufacturer)} {escape(a.model.model_name)}</td>"
        f'<td><span class="tag tag--{STATUS_TAGS.get(a.status, "muted")}">'
        f"{escape(STATUS_WORDS.get(a.status, a.status))}</span></td>"
        f"<td>{_holder(a)}</td>"
        f"<td>{escape(a.location or NONE)}</td>"
        f'<td class="nowrap">{escape(msisdn)}</td>'
        f'<td class="nowrap">{day(a.refresh_due_on) if a.refresh_due_on else NONE}</td></tr>\n'
    )


def device_rows(assets: Iterable[Asset]) -> Markup:
    return Markup("".join(device_row(a) for a in assets))  # noqa: S704 - each value escaped
