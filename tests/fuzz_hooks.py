"""schemathesis hooks for ``make fuzz`` (tests/fuzz.py loads them, SCHEMATHESIS_HOOKS).

The document gives IMEIs and ICCIDs a ``format`` (``fleetsvc.identifiers``): their last
digit is a Luhn check digit, which no pattern states. These strategies generate valid
ones, so a schema-valid IMEI is one the service accepts.

``filter_failure`` drops the "schema-valid request rejected" failures (ST202) whose
request was not in fact valid, or was refused for a reason no schema can state; each is
named here, and the run's summary counts the failures it dropped:

- an IMEI or ICCID whose check digit is wrong: the coverage phase draws them from the
  pattern, not from the registered format;
- a JSON integer written with a fraction (``563.0``): JSON Schema counts it an integer,
  the service reads JSON types exactly (issue 14, item 5);
- a date in the future (relative to today), a removal before its install;
- a reference to a record that does not exist, to a contract or asset of another kind, to a
  cancelled SIM, fewer licence seats than are in use, closing an MDM run that received no
  records, or an identifier already registered (in a batch, where each item's problem is a
  422): the register's state, as a 404 or 409 is (schemathesis expects those);
- a SIM fitted in an asset whose model takes no SIM (a dock, a tablet) or that has been
  disposed of, kit fitted in a decommissioned vehicle, a delivery naming a location code no
  location has: the other record's category or status, not the request, decides;
- a leaving date (``left_on``) sent without ``active``: it is refused only if the stored
  person is active (the document states the rule within the body: not with
  ``"active": true``);
- an upload's file that is not the profile's CSV or XLSX (no header row, no data rows, not
  a spreadsheet): the document states the file only as bytes; no schema states a
  spreadsheet's columns (a file that is missing or empty is stated, and not dropped);
- a dock that is the install's tablet: JSON Schema cannot compare two fields' values;
- a move to ``deployed`` with no person: vehicle kit fitted in a vehicle is deployed with
  none, so the asset's category and install decide, not the body;
- an identifier (serial, IMEI, asset tag) given in two items of one batch: JSON Schema's
  ``uniqueItems`` compares whole items, and the serials are compared once trimmed and
  upper-cased (make fuzz sent ``"000000\x85"`` and ``"000000\x85\x85"``);
- no default location: the fuzzer itself renamed it (a PATCH of its code);
- a private-use or unassigned character in a token name: ``str.isprintable()`` refuses
  them, and a pattern of all of them is too large to generate from (checks.name_pattern).

Every other refusal of a schema-valid request still fails the run.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

import schemathesis
from hypothesis import strategies as st
from hypothesis.internal import lambda_sources

from api.etags import IF_MATCH_PATTERN
from importers.fields import luhn_check_digit


def _with_check_digit(body: str) -> str:
    return body + luhn_check_digit(body)


schemathesis.openapi.format("imei", st.from_regex(r"\A[0-9]{14}\Z").map(_with_check_digit))
schemathesis.openapi.format("iccid", st.from_regex(r"\A89[0-9]{16,17}\Z").map(_with_check_digit))
# If-Match's pattern needs the quotes of an ETag; schemathesis's coverage phase draws a
# header's values from letters and digits only unless its format is registered, and then
# sent ``If-Match: 0`` in requests it counted valid (an upstream fault, worked around here).
schemathesis.openapi.format("etag", st.from_regex(IF_MATCH_PATTERN, fullmatch=True))

# Hypothesis names a strategy's lambdas by parsing their module's source (its repr, which
# it builds while it checks a recursive strategy). On Python 3.11, ``ast.parse`` in two
# threads at once (``--workers 2``) may raise "SystemError: AST constructor recursion depth
# mismatch" (CPython gh-106905: the AST state's depth counter is shared), which stopped a
# role's run with an internal error. The parses take turns, and a failed one names the
# lambda ``<unknown>``, as Hypothesis does when it cannot find the source.
_describe_lambda: Any = lambda_sources._lambda_description
_PARSING = threading.Lock()


def _lambda_description(f: Any, *args: Any, **kwargs: Any) -> str:
    with _PARSING:
        try:
            return str(_describe_lambda(f, *args, **kwargs))
        except SystemError:
            return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description

# The problems a schema cannot state (each a field's message, from the service's 422).
_UNSTATABLE = {
    "a record that does not exist": re.compile(r"no [a-z ]+ with id [0-9]+"),
    "a contract of another kind": re.compile(
        r"contract [0-9]+ is an? [a-z_ ]+ contract, not an? [a-z_ ]+ one"
    ),
    "a cancelled SIM": re.compile(r"SIM [0-9]+ is [a-z]+ and cannot be fitted"),
    "an identifier already registered": re.compile(
        r"an? [a-z ]+ with this [a-z ]+ is already registered \(id [0-9]+\)"
    ),
    "a Luhn check digit": re.compile(r"(IMEI|ICCID) check digit is wrong: expected [0-9]"),
    "an integer written with a fraction": re.compile(r"Expected `int( \| null)?`, got `float`"),
    "a dock that is the tablet": re.compile(r"the dock cannot be the tablet"),
    "a SIM for an asset that takes none": re.compile(
        r"asset [0-9]+ is an? [a-z_ ]+, which takes no SIM"
    ),
    "an asset disposed of": re.compile(r"asset [0-9]+ has been disposed of"),
    "a decommissioned vehicle": re.compile(r"vehicle .+ is decommissioned; kit cannot be fitted"),
    "a location code no location has": re.compile(r"no location has the code .+"),
    # str.isprintable() beyond what the document's pattern states (checks.name_pattern).
    "an unprintable character in a token name": re.compile(
        r"a token name must not contain control characters"
    ),
    "an asset of another category": re.compile(r"asset [0-9]+ is an? [a-z_ ]+, not an? [a-z_ ]+"),
    "a removal before its install": re.compile(r"removed_on cannot be before the install date"),
    "a deployment with no person": re.compile(
        r"deploying needs the person_id of the person it is issued to(; IVMA tablets .*)?"
    ),
    # Rules across fields or items, which JSON Schema cannot state: one line per model (a
    # uniqueItems would compare whole lines), an end not before its start.
    "a model on two lines of an order": re.compile(
        r"device model [0-9]+ is already on line [0-9]+; one line per model"
    ),
    "an end before its start": re.compile(r"ends_on must be on or after starts_on"),
    "an identifier in two items of a batch": re.compile(
        r"the same [a-z ]+ is in items\.[0-9]+ of this batch"
    ),
    # Relative to today, which a schema cannot name.
    "a date in the future": re.compile(r"[a-z_]+ cannot be in the future"),
    "fewer licence seats than are in use": re.compile(
        r"seats cannot be fewer than the [0-9]+ seats in use"
    ),
    "closing a run that received no records": re.compile(
        r"the run has received no records; a run with no devices cannot be closed"
    ),
    # The fuzzer renames locations, the default one too (FLEETSVC_DEFAULT_LOCATION).
    "a default location renamed": re.compile(
        r"no location was named, and the default location [A-Z0-9-]+"
        r" \(FLEETSVC_DEFAULT_LOCATION\) does not exist: .*"
    ),
}


def _unstatable(message: str) -> str | None:
    return next((why for why, rule in _UNSTATABLE.items() if rule.fullmatch(message)), None)


def _problems(response: Any) -> list[str] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    return [str(e.get("message", "")) for e in errors if isinstance(e, dict)]


# Checked against the stored person when the body does not say "active" (fleetsvc.people).
_LEAVER_ONLY = "left_on can only be set when active is false (a leaver)"


def _leaver_state(case: Any, problems: list[str]) -> bool:
    """A leaving date refused because the stored person is active, not for the body."""
    body = getattr(case, "body", None)
    return problems == [_LEAVER_ONLY] and isinstance(body, dict) and "active" not in body


# The upload's problems with its file that the document states (required, minLength).
_FILE_STATED = {"a file is required"}


def _file_contents(response: Any) -> bool:
    """Refused for what is in the upload's file only (its problems all name "file")."""
    try:
        errors = json.loads(response.content).get("errors") or []
    except (ValueError, TypeError, AttributeError):
        return False
    return bool(errors) and all(
        isinstance(e, dict) and e.get("field") == "file" and e.get("message") not in _FILE_STATED
        for e in errors
    )


def _dropped(why: str) -> bool:
    """Note why a failure was dropped (tests/fuzz.py counts them), and drop it."""
    log = os.environ.get("FLEETSVC_FUZZ_DROPPED")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(why + "\n")
    return False


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep a failure unless it is one of those the module's docstring names."""
    if getattr(failure, "code", None) != "ST202":
        return True
    if response.status_code == 422:
        problems = _problems(response)
        if problems and _leaver_state(case, problems):
            return _dropped("a leaving date for a stored active person")
        if _file_contents(response):
            return _dropped("an upload's file that is not the profile's spreadsheet")
        reasons = [_unstatable(p) for p in problems or []]
        if reasons and all(reasons):
            return _dropped(str(reasons[0]))
    return True
