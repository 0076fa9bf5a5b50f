"""Supplier files as the importer tests write them: headers, rows and a parse helper."""

import io
from pathlib import Path

import pytest

from importers import (
    FileRejected,
    ParsedFile,
    ParsedRow,
    get_profile,
    parse_file,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
REPO = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO / "importers" / "profiles"

VODAFONE_HEADER = (
    "Despatch Date,Vodafone Order No,Customer PO,Delivery Note,Product Code,"
    "Product Description,IMEI,Serial Number,SIM ICCID,MSISDN,Quantity"
)
VODAFONE_ROW = (
    "14/11/2022,VF-ORD-880000,4500071322,DN700000,SM-A325FZKGEUB,"
    "Samsung Galaxy A32,{imei},R58R0000000,8944100000000000018,07955 000000,1"
)
CDW_HEADER = (
    "CDW Order #,Customer PO #,Ship Date,Manufacturer,Mfr Part #,CDW Part #,Description,"
    "Serial #,Qty Shipped,Unit Price (GBP),Licence Key"
)
CDW_ROW = (
    "CDW1,4500061069,22/11/2021,Panasonic,FZ-L1AHAABVB,6600000,Toughpad,"
    "{serial},{qty},£689.00,{key}"
)
BABCOCK_HEADER = (
    "Job Reference,Completion Date,Fleet Number,VRM,Vehicle,Workshop,Tablet Serial,"
    "Dock Serial,Engineer ID,Job Status,Comments"
)


def vodafone_row(imei: str = "352099110000003") -> str:
    return VODAFONE_ROW.format(imei=imei)


def cdw_row(serial: str = "PF0000000X", qty: str = "1", key: str = "") -> str:
    return CDW_ROW.format(serial=serial, qty=qty, key=key)


def babcock_row(
    status: str = "Completed", tablet: str = "PF0000000X", date: str = "01/12/2021"
) -> str:
    return f"BAB-1,{date},00001,bx21 aaa,BMW 330e,Park Royal,{tablet},DK0000004,E1000,{status},"


def parse(
    lines: list[str], profile: str = "vodafone-despatch", *, max_cell_chars: int = 10_000
) -> tuple[ParsedFile, list[ParsedRow]]:
    data = "\r\n".join(lines).encode() + b"\r\n"
    profiled = get_profile(profile)
    parsed = parse_file(io.BytesIO(data), "upload.csv", profiled, max_cell_chars=max_cell_chars)
    return parsed, list(parsed)


def rejection(lines: list[str], profile: str = "vodafone-despatch") -> str:
    with pytest.raises(FileRejected) as caught:
        parse(lines, profile)
    return caught.value.message


def messages(rows: list[ParsedRow]) -> list[str]:
    return [issue.message for row in rows for issue in row.errors]
