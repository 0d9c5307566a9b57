"""The set-ups in ``deploy/`` (not run here: no container engine) say what ``serve``
accepts: their options parse, the names they refer to exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scenario_runner.serve.options import parse_options

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_the_compose_file_runs_three_replicas_on_postgresql_behind_nginx() -> None:
    (compose,) = _documents(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    mock = services["mock"]
    assert mock["deploy"]["replicas"] == 3
    assert "SCENARIO_RUN_ADMIN_TOKEN" in mock["environment"]
    options = parse_options(
        [*mock["command"], "--admin-token", mock["environment"]["SCENARIO_RUN_ADMIN_TOKEN"]]
    )
    assert options.store.startswith("postgresql://") and "@postgres:5432/" in options.store
    assert (options.grpc.port, options.http.port) == (4770, 4771)
    assert services["postgres"]["image"].startswith("postgres:")
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "grpc_pass grpc://mock_grpc;" in nginx and "server mock:4770;" in nginx
    assert "proxy_pass http://mock_admin;" in nginx and "server mock:4771;" in nginx
    assert (DEPLOY / "Dockerfile").is_file()


def test_the_kubernetes_manifests_take_the_store_url_from_the_secret() -> None:
    (secret,) = _documents(DEPLOY / "kubernetes" / "secret.yaml")
    (deployment,) = _documents(DEPLOY / "kubernetes" / "deployment.yaml")
    (service,) = _documents(DEPLOY / "kubernetes" / "service.yaml")
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 3
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in container["env"]}
    for ref in env.values():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    values = {name: secret["stringData"][ref["key"]] for name, ref in env.items()}
    args = [arg.replace("$(STORE_URL)", values["STORE_URL"]) for arg in container["args"]]
    options = parse_options([*args, "--admin-token", values["SCENARIO_RUN_ADMIN_TOKEN"]])
    assert options.store.startswith("postgresql://")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == labels
    ports = {port["name"] for port in container["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} == ports
