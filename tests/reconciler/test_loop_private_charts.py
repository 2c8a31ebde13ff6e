"""Private charts end to end on the emulator: the reconciler reads each add-on's credentials
Secret from the bundle's namespace, fetches from an htpasswd-protected OCI registry or an
HTTPS repository with its own CA, and applies the chart to the workload cluster. Wrong, absent
or unusable credentials and an unverifiable certificate fail the add-on with their own reason,
naming the add-on and the Secret, and no credential reaches status, events or logs."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import PrivateRegistry

from function.reconciler.timing import Timing
from tests.reconciler.harness import (
    NAMESPACE,
    Harness,
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    eventually,
    running,
)
from tests.reconciler.private_repos import USERNAME, TlsChartRepo
from tests.reconciler.test_loop_failures import addon, logged, reason_is

Obj = dict[str, Any]


def credentials(name: str, **data: str | bytes) -> Obj:
    """A Secret in the bundle's namespace (``_dot_`` spells a dot in a key)."""
    encoded = {
        k.replace("_dot_", "."): base64.b64encode(v.encode() if isinstance(v, str) else v).decode()
        for k, v in data.items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": encoded,
    }


def private_addon(name: str, repository: str, chart: str, version: str, **helm: Any) -> Obj:
    return {
        "name": name,
        "namespace": name,
        "helm": {
            "repository": repository,
            "chart": chart,
            "version": version,
            "releaseName": name,
            **helm,
        },
    }


def nfd(name: str, repository: str, **helm: Any) -> Obj:
    return private_addon(name, repository, "node-feature-discovery", "0.19.0", **helm)


def settled(*names: str) -> Any:
    def check(obj: Obj) -> bool:
        phases = addon_phases(obj)
        return all(phases.get(n) in ("Healthy", "Failed") for n in names)

    return check


async def warning_for(h: Harness, addon_name: str, reason: str) -> Obj:
    """The Warning event of ``reason`` on the bundle ``stack`` about one add-on."""
    prefix = f"add-on {addon_name} on {NAMESPACE}/c1: Failed: add-on '{addon_name}'"

    def found() -> list[Obj]:
        events = h.mgmt.list("v1", "Event", namespace=NAMESPACE)
        return [
            e
            for e in events
            if e["type"] == "Warning" and e["reason"] == reason and e["message"].startswith(prefix)
        ]

    await eventually(lambda: bool(found()), within=5, what=f"a {reason} Warning for {addon_name}")
    event = found()[0]
    assert event["involvedObject"]["name"] == "stack"
    return event


def assert_nowhere(h: Harness, caplog: pytest.LogCaptureFixture, capfd: Any, *values: str) -> None:
    """None of ``values`` (nor their base64 forms) is in the bundle, an event or any output."""
    places = {
        "bundle": json.dumps(h.bundle("stack")),
        "events": json.dumps(h.mgmt.list("v1", "Event", namespace=NAMESPACE)),
        "logs": caplog.text + json.dumps([vars(r) for r in caplog.records], default=str),
        "output": "".join(capfd.readouterr()),
    }
    assert places["logs"], "nothing was logged"
    for value in values:
        forms = {value, base64.b64encode(value.encode()).decode()}
        forms.add(base64.b64encode(f"{USERNAME}:{value}".encode()).decode())
        for where, text in places.items():
            for form in forms:
                assert form not in text, f"a credential is in the {where}"


async def test_oci_chart_with_basic_auth_and_dockerconfigjson_and_failures_without_leaks(
    private_registry: PrivateRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + private_registry.password
    auth = base64.b64encode(f"{USERNAME}:{private_registry.password}".encode()).decode()
    config = json.dumps({"auths": {private_registry.host: {"auth": auth}}})
    url = private_registry.url
    addons = [
        nfd("basic", url, credentialsSecretRef={"name": "registry-basic"}),
        nfd("docker", url, credentialsSecretRef={"name": "registry-docker"}),
        nfd("wrong", url, credentialsSecretRef={"name": "registry-wrong"}),
        nfd("absent", url, credentialsSecretRef={"name": "no-such-secret"}),
        nfd("keyless", url, credentialsSecretRef={"name": "registry-keyless"}),
    ]
    async with running(tmp_path) as h:
        h.mgmt.create(
            credentials("registry-basic", username=USERNAME, password=private_registry.password)
        )
        h.mgmt.create(credentials("registry-docker", _dot_dockerconfigjson=config))
        h.mgmt.create(credentials("registry-wrong", username=USERNAME, password=wrong))
        h.mgmt.create(credentials("registry-keyless", username=USERNAME))
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        got = await h.wait_bundle("stack", settled(*(a["name"] for a in addons)), within=30)
        phases = addon_phases(got)
        assert phases == {
            "basic": "Healthy",
            "docker": "Healthy",
            "wrong": "Failed",
            "absent": "Failed",
            "keyless": "Failed",
        }
        workload = h.workload("c1")
        for name in ("basic", "docker"):
            worker = workload.get(
                "apps/v1", "DaemonSet", f"{name}-node-feature-discovery-worker", name
            )
            assert worker["metadata"]["labels"]["app.kubernetes.io/instance"] == name
        assert (
            workload.find("apps/v1", "DaemonSet", "wrong-node-feature-discovery-worker", "wrong")
            is None
        )

        refused = addon(got, "wrong")
        assert refused["reason"] == "ChartAuthenticationFailed"
        assert refused["message"].startswith(
            f"add-on 'wrong', chart node-feature-discovery:0.19.0 ({url}): the repository "
            f"refused the credentials of Secret {NAMESPACE}/registry-wrong: "
        )
        absent = addon(got, "absent")
        assert absent["reason"] == "ChartCredentialsInvalid"
        assert f"credentials Secret {NAMESPACE}/no-such-secret: not found" in absent["message"]
        assert absent["message"].startswith("add-on 'absent', chart node-feature-discovery")
        keyless = addon(got, "keyless")
        assert keyless["reason"] == "ChartCredentialsInvalid"
        assert f"Secret {NAMESPACE}/registry-keyless: has no key 'password'" in keyless["message"]
        for status in (refused, absent, keyless):
            assert "unreachable" not in status["message"]

        synced = condition(got, "Synced")
        assert synced["status"] == "False"
        assert synced["reason"] in ("ChartAuthenticationFailed", "ChartCredentialsInvalid")
        for reason, status in (
            ("ChartAuthenticationFailed", refused),
            ("ChartCredentialsInvalid", absent),
            ("ChartCredentialsInvalid", keyless),
        ):
            event = await warning_for(h, status["name"], reason)
            assert event["message"].endswith(status["message"])
            assert status["message"] in logged(caplog, reason)
        assert_nowhere(h, caplog, capfd, private_registry.password, wrong)


async def test_https_chart_needs_the_ca_bundle_or_insecure_skip_tls_verify(
    tls_chart_repo: TlsChartRepo,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = tls_chart_repo.url
    password, token = tls_chart_repo.password, tls_chart_repo.token
    ca = tls_chart_repo.tls.ca_pem
    addons = [
        nfd("no-ca", url, credentialsSecretRef={"name": "repo-basic"}),
        nfd("with-ca", url, credentialsSecretRef={"name": "repo-basic-ca"}),
        nfd(
            "insecure", url, credentialsSecretRef={"name": "repo-basic"}, insecureSkipTLSVerify=True
        ),
        nfd("bearer", url, credentialsSecretRef={"name": "repo-token-ca"}),
    ]
    async with running(tmp_path) as h:
        h.mgmt.create(credentials("repo-basic", username=USERNAME, password=password))
        h.mgmt.create(
            credentials("repo-basic-ca", username=USERNAME, password=password, ca_dot_crt=ca)
        )
        h.mgmt.create(credentials("repo-token-ca", token=token, ca_dot_crt=ca))
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        got = await h.wait_bundle("stack", settled(*(a["name"] for a in addons)), within=30)
        assert addon_phases(got) == {
            "no-ca": "Failed",
            "with-ca": "Healthy",
            "insecure": "Healthy",
            "bearer": "Healthy",
        }
        workload = h.workload("c1")
        for name in ("with-ca", "insecure", "bearer"):
            assert workload.find(
                "apps/v1", "DaemonSet", f"{name}-node-feature-discovery-worker", name
            )
        untrusted = addon(got, "no-ca")
        assert untrusted["reason"] == "ChartTLSVerificationFailed"
        assert untrusted["message"].startswith(
            f"add-on 'no-ca', chart node-feature-discovery:0.19.0 ({url}): TLS certificate "
            f"verification failed (set the CA bundle: key ca.crt of Secret {NAMESPACE}/repo-basic, "
            "or helm.insecureSkipTLSVerify): "
        )
        assert "certificate" in untrusted["message"].split("): ", 1)[1]
        event = await warning_for(h, "no-ca", "ChartTLSVerificationFailed")
        assert event["message"].endswith(untrusted["message"])
        assert untrusted["message"] in logged(caplog, "ChartTLSVerificationFailed")
        assert_nowhere(h, caplog, capfd, password, token)


async def test_a_fixed_secret_is_picked_up_without_a_change_to_the_bundle(
    private_registry: PrivateRegistry, tmp_path: Path
) -> None:
    """Secrets are not watched: an add-on failed on its credentials is tried again."""
    timing = Timing(waiting=0.05, gpu=0.1, status=0.02, credentials=0.2)
    secret_ref = {"name": "registry-later"}
    async with running(tmp_path, timing=timing) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", [nfd("late", private_registry.url, credentialsSecretRef=secret_ref)]),
            field_manager="test",
        )
        await h.wait_bundle("stack", reason_is("late", "ChartCredentialsInvalid"))
        wrong = credentials("registry-later", username=USERNAME, password="not-it")
        h.mgmt.apply(wrong, field_manager="test")
        await h.wait_bundle("stack", reason_is("late", "ChartAuthenticationFailed"))
        right = credentials("registry-later", username=USERNAME, password=private_registry.password)
        h.mgmt.apply(right, field_manager="test")
        await h.wait_bundle("stack", lambda b: addon_phases(b).get("late") == "Healthy")
        assert h.workload("c1").find(
            "apps/v1", "DaemonSet", "late-node-feature-discovery-worker", "late"
        )
