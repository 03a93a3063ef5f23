"""The golden vectors are whole: every case present, byte-identical to what its JSON documents."""

from __future__ import annotations

import hashlib
import json

import pytest
from golden_parity import GOLDEN_IN_REPO

CASES = ("fomm", "fsrt", "metaportrait", "liveportrait")


@pytest.mark.parametrize("name", CASES)
def test_golden_case_is_present_and_intact(golden, name):
    for folder in dict.fromkeys([GOLDEN_IN_REPO, golden]):  # the shipped copy, and an override if set
        meta = json.loads((folder / f"{name}_mini.json").read_text())
        data = (folder / f"{name}_mini.safetensors").read_bytes()
        assert len(data) == meta["size_bytes"], (folder, name)
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], (folder, name)
        assert (folder / f"{name}_full_keys.json").is_file(), (folder, name)


def test_shipped_golden_data_size():
    """About 20 MB in git: fine for test data, but a new case should be a miniature too."""
    total = sum(path.stat().st_size for path in GOLDEN_IN_REPO.iterdir())
    assert total < 25e6, total
