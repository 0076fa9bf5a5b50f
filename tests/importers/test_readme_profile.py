"""The README's example profile is a working profile: the manual shows what really loads."""

import io
import re
from pathlib import Path

from importers import load_profile, parse_file

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_profile_loads_and_reads_a_file(tmp_path: Path) -> None:
    found = re.search(
        r"```toml\n# \$FLEETSVC_PROFILES_DIR/(?P<name>[\w-]+\.toml)\n(?P<body>.*?)```",
        README.read_text(encoding="utf-8"),
        re.S,
    )
    assert found, "README.md no longer shows an example profile"
    path = tmp_path / found["name"]
    path.write_text(found["body"], encoding="utf-8")
    profile = load_profile(path)
    assert profile.name == path.stem

    data = (
        b"Ship Date,SKU,IMEI\r\n"
        b"03/01/2023,sm-a325f,352099001761481\r\n"
        b"03/01/2023,SM-A325F,\r\n"  # neither serial nor IMEI: the example's one_of rule
    )
    rows = list(parse_file(io.BytesIO(data), "ee.csv", profile))
    assert rows[0].ok and rows[0].values["part_number"] == "SM-A325F"
    assert rows[0].values["imei"] == "352099001761481"
    assert [e.message for e in rows[1].errors] == ["a handset needs a serial number or an IMEI"]
