"""The supplier files the demo imports, written as the suppliers write them: Vodafone's
despatch reports, CDW's shipment notice (tablets, docks and the NetMotion licences), and
Babcock's install report. The demo's devices enter the register the way a force's do,
through ``fleetsvc.imports``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from fleetsvc.demo.shape import (
    DOCK_COST,
    NETMOTION_KEY,
    NETMOTION_SEAT_COST,
    TABLET_COST,
    DemoSize,
    dock_serial,
    iccid,
    imei,
    tablet_serial,
)


def _csv(lines: Sequence[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def vodafone_file(first: int, count: int, po_number: str, despatched: dt.date) -> bytes:
    """A vodafone-despatch CSV for ``count`` handsets numbered from ``first``."""
    lines = [
        "Despatch Date,Vodafone Order No,Customer PO,Delivery Note,Product Code,"
        "Product Description,IMEI,Serial Number,SIM ICCID,MSISDN,Quantity"
    ]
    when = despatched.strftime("%d/%m/%Y")
    for n in range(first, first + count):
        lines.append(
            f"{when},VF-ORD-{880000 + n // 1000},{po_number},DN{700000 + n // 500},"
            f"SM-A325FZKGEUB,Samsung Galaxy A32 4G 128GB Awesome Black,{imei(n)},"
            f"R58D{n:07d},{iccid(n)},07956 {n:06d},1"
        )
    return _csv(lines)


def cdw_file(po_number: str, shipped: dt.date, size: DemoSize, *, licences: bool) -> bytes:
    """A cdw-asn CSV: the IVMA tablets, their docks and (``licences``) the NetMotion seats."""
    lines = [
        "CDW Order #,Customer PO #,Ship Date,Manufacturer,Mfr Part #,CDW Part #,"
        "Description,Serial #,Qty Shipped,Unit Price (GBP),Licence Key"
    ]
    when = shipped.strftime("%d/%m/%Y")
    for n in range(size.tablets):
        lines.append(
            f"CDW5100000,{po_number},{when},Panasonic,FZ-L1AHAABVB,6600000,"
            f"Panasonic Toughpad FZ-L1 7in Android,{tablet_serial(n)},1,£{TABLET_COST},"
        )
    for n in range(size.vehicles):
        lines.append(
            f"CDW5100001,{po_number},{when},Havis,DS-PAN-1111,6600001,"
            f"Havis docking station for FZ-L1,{dock_serial(n)},1,£{DOCK_COST},"
        )
    if licences:
        lines.append(
            f"CDW5199999,{po_number},{when},Absolute,NM-MOB-STD,7700001,NetMotion Mobility"
            f" Standard licence,,{size.netmotion_seats},£{NETMOTION_SEAT_COST},{NETMOTION_KEY}"
        )
    return _csv(lines)


@dataclass(frozen=True)
class InstallJob:
    """One Babcock job: a tablet (and dock) fitted in a vehicle on a day."""

    job_reference: str
    completed_on: dt.date
    fleet_number: str
    vrm: str
    tablet_serial: str
    dock_serial: str | None


def babcock_file(jobs: Sequence[InstallJob]) -> bytes:
    """A babcock-install CSV of completed jobs."""
    lines = [
        "Job Reference,Completion Date,Fleet Number,VRM,Vehicle,Workshop,Tablet Serial,"
        "Dock Serial,Engineer ID,Job Status,Comments"
    ]
    for n, job in enumerate(jobs):
        lines.append(
            f"{job.job_reference},{job.completed_on.strftime('%d/%m/%Y')},{job.fleet_number},"
            f"{job.vrm},BMW 330e Touring IRV,Babcock Park Royal,{job.tablet_serial},"
            f"{job.dock_serial or ''},E{1000 + n % 40},Completed,"
        )
    return _csv(lines)
