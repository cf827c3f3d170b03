"""The hub's configuration, without a hub: the Kubernetes values, the names, the refusals of make hub.

Fast tests. The hub itself (accounts, JupyterHub, the attacks) is tests/hub/test_hub_e2e.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hub_harness import hub_copy, make_hub, require_hub
from nbgrader.exchange.abc import ExchangeCollect, ExchangeReleaseFeedback, ExchangeSubmit
from traitlets.utils.importstring import import_item

from course_tools.hub import Layout, State, local_settings, nbgrader_settings, z2jh
from course_tools.hub.deploy import blocked_ancestor
from course_tools.hub.guard import REFUSED
from course_tools.nbgrader_course import course_id

# Keys of the zero-to-jupyterhub chart (4.x values.schema.yaml) that the values file may use.
CHART_TOP = {"hub", "proxy", "singleuser", "ingress", "prePuller", "custom", "cull", "debug", "rbac", "global",
             "scheduling", "imagePullSecret", "imagePullSecrets", "fullnameOverride", "nameOverride", "enabled"}
CHART_HUB = {"config", "extraConfig", "extraFiles", "loadRoles", "services", "baseUrl", "image", "db", "extraEnv",
             "extraVolumes", "extraVolumeMounts", "networkPolicy", "resources", "cookieSecret", "allowNamedServers"}
CHART_SERVICE = {"name", "admin", "command", "url", "api_token", "apiToken", "oauth_no_confirm", "display",
                 "oauth_client_allowed_scopes", "info"}
CHART_SINGLEUSER = {"cmd", "defaultUrl", "storage", "extraFiles", "image", "uid", "fsGid", "extraEnv", "cpu",
                    "memory", "networkPolicy", "profileList", "startTimeout", "lifecycleHooks", "initContainers"}
CHART_STORAGE = {"type", "capacity", "extraVolumes", "extraVolumeMounts", "homeMountPath", "dynamic", "static",
                 "extraLabels"}


@pytest.fixture(scope="module")
def chart() -> dict:
    return yaml.safe_load(z2jh.VALUES.read_text())


def test_z2jh_values_are_what_the_hub_config_generates():
    """Is course_tools/hub/z2jh-values.yaml the rendering of course_tools.hub (so it cannot drift)?"""
    assert z2jh.VALUES.read_text() == z2jh.render(), "z2jh-values.yaml is stale: run `make hub-values`"


def test_z2jh_values_have_the_keys_the_chart_reads(chart):
    """Valid YAML, and only keys of the chart's schema: hub.config, hub.loadRoles, hub.services, singleuser.storage."""
    assert set(chart) <= CHART_TOP, set(chart) - CHART_TOP
    hub, single = chart["hub"], chart["singleuser"]
    assert set(hub) <= CHART_HUB and set(single) <= CHART_SINGLEUSER, (set(hub) - CHART_HUB, set(single) - CHART_SINGLEUSER)
    assert isinstance(hub["config"]["JupyterHub"]["load_groups"], dict)
    assert all(isinstance(v, str) for v in hub["extraConfig"].values()), "hub.extraConfig holds Python snippets"
    for name, role in hub["loadRoles"].items():
        assert role["scopes"] and (role.get("groups") or role.get("users") or role.get("services")), name
    for name, service in hub["services"].items():
        assert set(service) <= CHART_SERVICE and service["url"].startswith("http://"), (name, service)
    storage = single["storage"]
    assert set(storage) <= CHART_STORAGE and storage["type"] in ("dynamic", "static", "none"), storage
    volumes = {v["name"] for v in storage["extraVolumes"]}
    assert {m["name"] for m in storage["extraVolumeMounts"]} <= volumes, "a mount of a volume not declared"
    for key, file in single["extraFiles"].items():
        ways = {"data", "stringData", "binaryData"} & set(file)
        assert file["mountPath"].startswith("/") and len(ways) == 1, (key, file)
        if "data" in file:
            assert Path(file["mountPath"]).suffix in (".json", ".yaml", ".yml", ".toml"), key
    for snippet in hub["extraConfig"].values():
        compile(snippet, "extraConfig", "exec")


def test_z2jh_values_carry_the_same_course_facts_as_make_hub(chart):
    """The same groups, role and scopes as the one-machine hub; the students' exchange on the shared volume."""
    lay = Layout.default()
    local = local_settings(State(layout=lay.to_json(), hub_api_port=1, proxy_api_port=2, service_port=3))
    hub = chart["hub"]
    assert hub["config"]["JupyterHub"]["load_groups"] == local["JupyterHub"]["load_groups"]
    assert [{"name": k, **v} for k, v in hub["loadRoles"].items()] == local["JupyterHub"]["load_roles"]
    assert hub["config"]["KubeSpawner"]["server_token_scopes"] == local["Spawner"]["server_token_scopes"]
    assert list(hub["services"]) == [s["name"] for s in local["JupyterHub"]["services"]] == [course_id()]
    mount = chart["singleuser"]["storage"]["extraVolumeMounts"][0]["mountPath"]
    student = chart["singleuser"]["extraFiles"]["student-nbgrader"]["stringData"]
    assert f"c.Exchange.root = {mount!r}" in student
    for section, values in nbgrader_settings(lay, "student", exchange=mount).items():
        for key, value in values.items():
            assert f"c.{section}.{key} = {value!r}" in student, (section, key)
    for token in ("api_token", "apiToken", "password", "cookieSecret"):
        assert token not in z2jh.VALUES.read_text(), f"{token} in a committed values file"


def test_layout_names_come_from_the_course_id():
    """Groups nbgrader-<id> and formgrade-<id>, the service named <id>, accounts under the prefix; bad names refused."""
    cid = course_id()
    lay = Layout.default(prefix="t1-", students=3)
    assert (lay.nbgrader_group, lay.formgrade_group, lay.service) == (f"nbgrader-{cid}", f"formgrade-{cid}", cid)
    assert lay.student_names == ["t1-student1", "t1-student2", "t1-student3"] and lay.grader == "t1-grader"
    assert Layout.default().prefix == f"{cid}-"
    for bad in ("Upper-", "1digit-", "a" * 30, "sp ace-"):
        with pytest.raises(ValueError, match="account name"):
            Layout.default(prefix=bad)


def test_the_grader_config_names_nbgraders_exchange_classes():
    """Do the classes the configuration names import, and subclass nbgrader's (else nbgrader ignores or fails)?"""
    lay = Layout.default()
    grader, student = nbgrader_settings(lay, "grader"), nbgrader_settings(lay, "student")
    assert issubclass(import_item(grader["ExchangeFactory"]["collect"]), ExchangeCollect)
    assert issubclass(import_item(grader["ExchangeFactory"]["release_feedback"]), ExchangeReleaseFeedback)
    assert issubclass(import_item(student["ExchangeFactory"]["submit"]), ExchangeSubmit)


def test_the_guard_refuses_routes_the_formgrader_has():
    """Each route the guard refuses is one of nbgrader's formgrader API routes (a renamed route would go unguarded)."""
    from nbgrader.server_extensions.formgrader.apihandlers import default_handlers

    routes = {pattern for pattern, _ in default_handlers}
    for pattern in REFUSED:
        assert any(re.fullmatch(pattern, r.replace("([^/]+)", "x")) for r in routes), pattern
        assert pattern.replace("[^/]+", "([^/]+)") in routes, f"{pattern} is not a formgrader route"


def test_blocked_ancestor_finds_a_folder_others_cannot_enter(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="dgm-hubperm-"))
    try:
        os.chmod(base, 0o755)
        (base / "open" / "deep").mkdir(parents=True)
        (base / "shut" / "deep").mkdir(parents=True)
        os.chmod(base / "shut", 0o750)
        assert blocked_ancestor(base / "open" / "deep") is None
        assert blocked_ancestor(base / "shut" / "deep") == base / "shut"
    finally:
        shutil.rmtree(base)


def test_make_hub_refuses_a_checkout_every_account_can_read():
    """A world-readable checkout (solutions/, .git) stops `make hub` before it creates anything, with the fix."""
    require_hub()
    base = Path(tempfile.mkdtemp(prefix="dgm-hubopen-"))
    try:
        os.chmod(base, 0o755)
        root = hub_copy(base / "course")
        os.chmod(root, 0o755)
        done, _ = make_hub(root, {"HUB_PREFIX": "refused-", "HUB_SRV": base / "srv"}, {})
        assert done.returncode != 0, f"expected make hub to refuse a readable checkout:\n{done.stdout[-2000:]}"
        assert f"chmod o-rwx {root}" in done.stdout + done.stderr, (done.stdout + done.stderr)[-2000:]
        assert subprocess.run(["id", "refused-instructor"], capture_output=True).returncode != 0
        assert not (root / ".hub" / "state.json").exists() and not (base / "srv").exists()
    finally:
        shutil.rmtree(base)
