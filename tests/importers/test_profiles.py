"""The built-in profiles, a profile added from a file, and bad profile files explained
(importers/profiles.py)."""

import io
from pathlib import Path

import pytest

from importers import (
    Profile,
    ProfileError,
    builtin_profiles,
    get_profile,
    load_profile,
    parse_file,
)
from tests.importers.files import (
    PROFILE_DIR,
)

# --- profiles ------------------------------------------------------------------------------------


def test_builtin_profiles_are_the_five_toml_files() -> None:
    profiles = builtin_profiles()
    assert set(profiles) == {
        "vodafone-despatch",
        "cdw-asn",
        "babcock-install",
        "intune-devices",
        "hr-people",
    }
    assert {path.stem for path in PROFILE_DIR.glob("*.toml")} == set(profiles)
    assert profiles["cdw-asn"].formats == ("csv", "xlsx")
    assert {p.kind for p in profiles.values()} == {"delivery", "install", "mdm", "people"}


def test_a_profile_can_be_added_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "acme.toml").write_text(
        'name = "acme-despatch"\ndescription = "Acme"\nkind = "delivery"\n'
        '[[fields]]\nname = "serial_number"\naliases = ["S/N", "Serial"]\nparser = "serial"\n'
        "required_column = true\nrequired_value = true\n"
    )
    profile = get_profile("acme-despatch", [tmp_path])
    assert isinstance(profile, Profile) and profile.formats == ("csv",)
    rows = list(parse_file(io.BytesIO(b"s/n\r\nab1\r\n"), "a.csv", profile))
    assert rows[0].values == {"serial_number": "AB1"}


def test_unknown_profile() -> None:
    with pytest.raises(
        ProfileError, match="unknown import profile 'nope'; known profiles: babcock-install"
    ):
        get_profile("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = ", "not valid TOML"),
        ('name = "x"\ndescription = "d"\nkind = "other"', "kind must be one of"),
        ('name = "x"\ndescription = "d"\nkind = "mdm"\nfields = []', "at least one [[fields]]"),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "magic"\nrequired_column = true',
            "unknown parser 'magic'",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "text"\nrequired_column = true\n[[fields]]\nname = "b"\naliases = [" a "]\n'
            'parser = "text"',
            "alias of both a and b",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "text"\nrequired_column = true\n[[rules]]\nkind = "one_of"\nfields = ["zz"]',
            "unknown field 'zz'",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "enum"\nrequired_column = true',
            "choices are needed",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\ncolour = "red"\n[[fields]]\nname = "a"\n'
            'aliases = ["A"]\nparser = "text"\nrequired_column = true',
            "unknown profile key(s): colour",
        ),
    ],
)
def test_bad_profile_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert message in caught.value.message and str(path) in caught.value.message
