"""The local DynamoDB patches moto's internals: it refuses a moto it was not tested with."""

import importlib.metadata

import pytest

from aiusage.local import moto_dynamodb
from aiusage.local.moto_dynamodb import UnsupportedMoto, check_moto_version


@pytest.mark.parametrize("version", ["5.2.0", "5.2.5", "5.2.11", "5.2.6.dev3"])
def test_tested_releases_pass(version):
    assert check_moto_version(version) == version


@pytest.mark.parametrize("version", ["5.1.9", "5.3.0", "6.0.0", "4.2.14"])
def test_other_releases_fail_clearly(version):
    with pytest.raises(UnsupportedMoto) as raised:
        check_moto_version(version)
    message = str(raised.value)
    assert f"moto {version} is installed" in message
    assert "moto>=5.2.0,<5.3.0" in message and "aiusage/local/moto_dynamodb.py" in message


def test_install_checks_before_it_patches_anything(monkeypatch):
    monkeypatch.setattr(moto_dynamodb, "_INSTALLED", False)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: {"moto": "6.1.0"}[name])
    with pytest.raises(UnsupportedMoto, match="moto 6.1.0 is installed"):
        moto_dynamodb.install()
    assert moto_dynamodb._INSTALLED is False


def test_the_installed_moto_is_a_tested_one():
    assert check_moto_version() == importlib.metadata.version("moto")
