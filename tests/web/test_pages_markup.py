"""The stores, finance and MDM pages keep the foundation's rules: no inline script or style
(the security policy would refuse them), a label for every field, each id once."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import Decimal

from tests import factories as f
from tests.api.test_imports import csv_bytes, handset, order
from tests.api.test_mdm import graph_record, push
from tests.conftest import ClientFactory, unique
from tests.web.conftest import SignedInFactory
from tests.web.test_imports_page import import_id_of, upload


async def test_every_page_is_labelled_and_has_no_inline_script_or_style(
    signed_in_as: SignedInFactory, client_for: ClientFactory
) -> None:
    contract = await f.contract(value_cap=Decimal("1000.00"))
    po = await f.insert(
        "purchase_order",
        number=unique("PO")[:12],
        contract_id=contract["id"],
        raised_on=dt.date(2024, 1, 1),
    )
    r = await push(await client_for("mdm"), unique("run-"), 1, [graph_record()], final=True)
    run_id = r.json()["id"]
    me = await signed_in_as("admin")
    o = await order(quantity=1)
    bad = handset(o, IMEI="1")
    import_id = import_id_of(await upload(me, csv_bytes([handset(o), bad])))
    paths = [
        "/imports",
        f"/imports/{import_id}",
        "/forecasts?from=2024/25",
        "/forecasts?kind=recurring&from=2024/25",
        "/mdm",
        "/mdm?section=not-seen",
        f"/mdm/runs/{run_id}",
        "/procurement",
        "/procurement/suppliers",
        "/procurement/contracts/new",
        f"/procurement/contracts/{contract['id']}",
        f"/procurement/contracts/{contract['id']}/edit",
        "/procurement/purchase-orders",
        "/procurement/purchase-orders/new",
        f"/procurement/purchase-orders/{po['id']}",
        f"/procurement/purchase-orders/{po['id']}/edit",
    ]
    for path in paths:
        r = await me.client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        html = r.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        ids = Counter(re.findall(r'\bid="([^"]+)"', html))
        assert not [i for i, n in ids.items() if n > 1], (
            path,
            [i for i, n in ids.items() if n > 1],
        )
        for attrs in re.findall(r"<(?:input|select|textarea)\b([^>]*)>", html):
            if re.search(r'type="hidden"|\bhidden\b', attrs):
                continue
            found = re.search(r'\bid="([^"]+)"', attrs)
            assert found, (path, attrs)
            assert f'<label for="{found.group(1)}"' in html or (
                f'<label class="visually-hidden" for="{found.group(1)}"' in html
            ), (path, found.group(1))
