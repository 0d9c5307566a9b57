"""Targets: addresses, schemes and TLS settings (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_runner.errors import ConfigError
from scenario_runner.runner.targets import Target, TlsSettings, is_address


@pytest.mark.parametrize(
    ("text", "address", "secure"),
    [
        ("localhost:50051", "localhost:50051", False),
        ("grpc://localhost:50051", "localhost:50051", False),
        ("grpcs://api.example.com:443", "api.example.com:443", True),
        ("[::1]:8080", "[::1]:8080", False),
        ("127.0.0.1:{{ env.PORT }}", "127.0.0.1:{{ env.PORT }}", False),
    ],
)
def test_addresses_and_schemes(text: str, address: str, secure: bool) -> None:
    target = Target.parse("t", text)
    assert target.address == address
    assert (target.tls is not None) is secure
    assert target.url == ("grpcs://" if secure else "") + address


@pytest.mark.parametrize("text", ["localhost", "grpcs://host", "host:port", ":50051"])
def test_what_is_not_an_address(text: str) -> None:
    with pytest.raises(ConfigError, match="expected HOST:PORT or grpcs://HOST:PORT"):
        Target.parse("t", text)


def test_given_tls_settings_are_kept_with_grpcs() -> None:
    tls = TlsSettings(ca=Path("ca.pem"), server_name="orders.local")
    assert Target.parse("t", "grpcs://h:1", tls).tls is tls
    assert tls.options() == [("grpc.ssl_target_name_override", "orders.local")]


def test_a_cert_without_its_key_and_a_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs both `cert` and `key`"):
        TlsSettings(cert=tmp_path / "c.pem").credentials("target 't'")
    with pytest.raises(ConfigError, match=r"cannot read tls ca .*missing\.pem"):
        TlsSettings(ca=tmp_path / "missing.pem").credentials("target 't'")


def test_a_step_target_is_an_address_when_it_has_a_port() -> None:
    assert is_address("localhost:1") and is_address("grpcs://h:443")
    assert not is_address("orders")
