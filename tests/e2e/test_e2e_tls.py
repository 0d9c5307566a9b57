"""Targets over TLS and mutual TLS, with certificates made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from e2e_support import Project, assert_outcomes_as_named

SUT = Path(__file__).resolve().parent / "sut"
SERVER_NAME = "relay.test"


@dataclass
class Issued:
    cert: bytes
    key: bytes


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(common: str = "scenario-run test CA") -> tuple[Issued, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key


def issue(ca: Issued, ca_key: ec.EllipticCurvePrivateKey, common: str, *, server: bool) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _answer(text: str) -> bytes:
    """relay.Answer{text} on the wire (field 1, length-delimited)."""
    data = text.encode()
    return b"\x0a" + bytes([len(data)]) + data


def _ask(request: bytes, context: grpc.ServicerContext) -> bytes:
    names = context.auth_context().get("x509_common_name") or [b"anonymous"]
    return _answer(f"hello {names[0].decode()}")


@dataclass
class TlsServer:
    port: int
    folder: Path
    mutual: bool


@pytest.fixture(params=[False, True], ids=["tls", "mutual-tls"])
def tls_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TlsServer]:
    """A threaded grpc server of relay.Front over TLS; mutual TLS when the param says so."""
    mutual: bool = request.param
    ca, ca_key = make_ca()
    server_cert = issue(ca, ca_key, SERVER_NAME, server=True)
    client = issue(ca, ca_key, "runner-client", server=False)
    other_ca, _ = make_ca("another CA")
    folder = tmp_path / "certs"
    folder.mkdir()
    for name, blob in {
        "ca.pem": ca.cert,
        "client.pem": client.cert,
        "client.key": client.key,
        "other-ca.pem": other_ca.cert,
    }.items():
        (folder / name).write_bytes(blob)
    credentials = grpc.ssl_server_credentials(
        [(server_cert.key, server_cert.cert)],
        root_certificates=ca.cert if mutual else None,
        require_client_auth=mutual,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "relay.Front", {"Ask": grpc.unary_unary_rpc_method_handler(_ask)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield TlsServer(port, folder, mutual)
    finally:
        server.stop(None)


def test_targets_over_tls_and_mutual_tls(project: Project, tls_server: TlsServer) -> None:
    shutil.copytree(SUT / "protos" / "relay", project.root / "protos" / "relay")
    certs = tls_server.folder
    port = tls_server.port
    project.write(
        "scenario-run.yaml",
        f"""
        targets:
          client-cert:
            address: 127.0.0.1:{port}
            tls: {{ca: {certs}/ca.pem, cert: {certs}/client.pem, key: {certs}/client.key,
                  server-name: {SERVER_NAME}}}
          wrong-ca:
            address: 127.0.0.1:{port}
            tls: {{ca: {certs}/other-ca.pem}}
          by-ip:
            address: grpcs://127.0.0.1:{port}
            tls: {{ca: {certs}/ca.pem, cert: {certs}/client.pem, key: {certs}/client.key}}
        """,
    )
    project.write(
        "scenarios/tls.yaml",
        """
        name: "passed: a client certificate is presented when the server asks for one"
        steps:
          - call: relay.Front/Ask
            target: client-cert
            expect: {response: {text: "hello {{ client }}"}}
        ---
        name: "error: a server whose CA is not trusted"
        steps:
          - call: relay.Front/Ask
            target: wrong-ca
        ---
        name: "passed: the certificate's IP address is checked when no server name is given"
        steps:
          - call: relay.Front/Ask
            target: by-ip
            expect: {response: {text: {$regex: "^hello "}}}
        """,
    )
    client = "runner-client" if tls_server.mutual else "anonymous"
    result = project.run("scenarios", "--var", f"client={client}")
    assert_outcomes_as_named(result)
    assert "failed: UNAVAILABLE" in result.problem("error: a server whose CA is not trusted")


@pytest.mark.parametrize("tls_server", [True], indirect=True, ids=["mutual-tls"])
def test_a_mutual_tls_server_refuses_a_client_without_a_certificate(
    project: Project, tls_server: TlsServer
) -> None:
    shutil.copytree(SUT / "protos" / "relay", project.root / "protos" / "relay")
    certs = tls_server.folder
    project.write(
        "scenario-run.yaml",
        f"""
        targets:
          server-only:
            address: 127.0.0.1:{tls_server.port}
            tls: {{ca: {certs}/ca.pem, server-name: {SERVER_NAME}}}
        """,
    )
    project.write(
        "scenarios/tls.yaml",
        """
        name: "error: no client certificate"
        steps:
          - call: relay.Front/Ask
            target: server-only
        """,
    )
    result = project.run("scenarios")
    assert_outcomes_as_named(result)


@pytest.mark.parametrize("tls_server", [False], indirect=True, ids=["tls"])
def test_grpcs_on_the_command_line_with_the_configs_ca(
    project: Project, tls_server: TlsServer
) -> None:
    shutil.copytree(SUT / "protos" / "relay", project.root / "protos" / "relay")
    certs = tls_server.folder
    project.write(
        "scenario-run.yaml",
        f"""
        targets:
          relay: {{address: "localhost:1", tls: {{ca: {certs}/ca.pem, server-name: {SERVER_NAME}}}}}
        """,
    )
    project.write(
        "scenarios/tls.yaml",
        """
        name: "passed: anonymous over TLS"
        steps:
          - call: relay.Front/Ask
            target: relay
            expect: {response: {text: hello anonymous}}
        """,
    )
    result = project.run("scenarios", "--target", f"relay=grpcs://127.0.0.1:{tls_server.port}")
    assert_outcomes_as_named(result)


def test_an_unreadable_tls_file_is_a_clear_error(project: Project) -> None:
    shutil.copytree(SUT / "protos" / "relay", project.root / "protos" / "relay")
    project.write(
        "scenario-run.yaml",
        """
        targets:
          relay: {address: "127.0.0.1:1", tls: {ca: missing/ca.pem}}
        """,
    )
    project.write(
        "scenarios/tls.yaml",
        """
        name: "error: the CA file is missing"
        steps:
          - call: relay.Front/Ask
            target: relay
        """,
    )
    result = project.run("scenarios")
    assert_outcomes_as_named(result)
    assert "cannot read tls ca" in result.problem("error: the CA file is missing")
