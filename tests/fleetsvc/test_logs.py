"""What the log configuration lets through from the libraries the service uses."""

import subprocess
import sys
import textwrap

# httpx logs every request's full URL at INFO. The MDM pull's page links carry query strings
# ($skiptoken, $select); the service's own logs never carry query strings.
SCRIPT = textwrap.dedent(
    """
    import httpx
    from fleetsvc.logs import configure_logging
    from fleetsvc.settings import load_settings

    configure_logging(load_settings({"FLEETSVC_LOG_LEVEL": "info", "FLEETSVC_LOG_FORMAT": "json"}))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with httpx.Client(transport=transport) as client:
        client.get("https://graph.example/v1.0/deviceManagement/managedDevices?$skiptoken=SKIP42")
    import structlog
    structlog.get_logger("probe").info("probe_line")
    """
)


def test_http_client_requests_are_not_logged_with_their_query_strings() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert "probe_line" in done.stderr  # the logging itself works at this level
    assert "SKIP42" not in done.stderr and "managedDevices" not in done.stderr, done.stderr
