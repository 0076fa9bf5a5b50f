"""The API documentation page works with no network: every script, style sheet and icon
it names is served by the service itself."""

from __future__ import annotations

import re

import httpx


async def test_the_docs_page_refers_to_no_other_host(anon: httpx.AsyncClient) -> None:
    for path in ("/schema", "/schema/swagger"):
        r = await anon.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        assert not re.search(r"(?i)\b(?:https?:)?//", html), re.findall(r"(?i)\S*//\S*", html)
        referred = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert referred, "the page names no assets"
        for url in referred:
            assert url.startswith("/"), url
            got = await anon.get(url)
            assert got.status_code == 200, url
        assert "<script>" not in html  # no inline script: the security policy allows none


async def test_the_docs_script_loads_the_service_s_own_document(anon: httpx.AsyncClient) -> None:
    html = (await anon.get("/schema")).text
    assert 'data-spec="/schema/openapi.json"' in html
    script = (await anon.get("/schema/assets/api-docs.js")).text
    assert "SwaggerUIBundle" in script and "http" not in script
    assert (await anon.get("/schema/openapi.json")).json()["openapi"].startswith("3.1")
