"""The manifests as files: schema-valid for a current Kubernetes, least privilege without wildcards,
images substitutable through kustomize, the Deployment's probes and security, the Helm chart in step."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import jsonschema
import kubernetes_validate
import pytest
import yaml

from .conftest import MANIFESTS, REPO, find, kustomize
from .pod_security import violations

KUBERNETES_VERSION = "1.37"


def _every_manifest() -> list[tuple[str, dict]]:
    docs = []
    for directory in (MANIFESTS, MANIFESTS / "config", MANIFESTS / "examples"):
        docs += [(f"{directory.relative_to(REPO)}: {d['kind']} {d['metadata']['name']}", d)
                 for d in kustomize(directory)]
    loose = [*(MANIFESTS / "launcher").glob("*.yaml"),
             *(p for p in (MANIFESTS / "examples").glob("*.yaml") if not p.name.startswith("kustomiz"))]
    for path in loose:
        docs += [(f"{path.relative_to(REPO)}: {d['kind']}", d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _crd_schemas(manifests: list[dict]) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) → the CRD's openAPIV3Schema."""
    out = {}
    for crd in (m for m in manifests if m["kind"] == "CustomResourceDefinition"):
        for version in crd["spec"]["versions"]:
            out[(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])] = \
                version["schema"]["openAPIV3Schema"]
    return out


def test_every_manifest_passes_the_schema_of_a_current_kubernetes(manifests):
    """Built-in kinds against Kubernetes 1.37's schemas (strict: no unknown fields); custom objects
    against their CRD's schema."""
    crds = _crd_schemas(manifests)
    problems = []
    for where, doc in _every_manifest():
        key = (doc["apiVersion"], doc["kind"])
        try:
            if key in crds:
                jsonschema.validate(doc, crds[key])
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            problems.append(f"{where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {key} in Kubernetes {KUBERNETES_VERSION}")
    assert problems == []


def test_rbac_names_every_verb_and_resource(manifests):
    for obj in manifests:
        if obj["kind"] in ("Role", "ClusterRole"):
            for rule in obj["rules"]:
                for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                    assert "*" not in (rule.get(field) or []), f"{obj['kind']} {obj['metadata']['name']}: {field}"


def test_an_overlay_sets_registry_and_tag_of_both_images_without_editing_manifests(tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(MANIFESTS, overlay)],
        "images": [{"name": "kvtui/reconciler", "newName": "registry.example/kvtui/reconciler", "newTag": "v9"},
                   {"name": "kvtui/launcher", "newName": "registry.example/kvtui/launcher", "newTag": "v9"}]}))
    objects = kustomize(overlay)
    deployment = find(objects, "Deployment", "kvtui-reconciler", "kubevirt")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/kvtui/reconciler:v9"
    # The launcher image reaches --launcher-image through the generated ConfigMap.
    assert "--launcher-image=$(KVTUI_LAUNCHER_IMAGE)" in container["args"]
    ref = next(e for e in container["env"] if e["name"] == "KVTUI_LAUNCHER_IMAGE")["valueFrom"]["configMapKeyRef"]
    configmap = find(objects, "ConfigMap", ref["name"], "kubevirt")
    assert configmap["data"][ref["key"]] == "registry.example/kvtui/launcher:v9"


def test_the_example_vm_takes_the_demo_image_from_kustomize_images():
    vm = find(kustomize(MANIFESTS / "examples"), "VirtualMachine", "demo")
    spec = vm["spec"]["template"]["spec"]
    assert spec["volumes"][0]["containerDisk"]["image"] == "kvtui/demo:0.1.0"


def test_the_reconciler_deployment_runs_two_elected_replicas_with_probes_on_its_health_port(manifests):
    deployment = find(manifests, "Deployment", "kvtui-reconciler", "kubevirt")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in container["args"]
    port = int(next(a for a in container["args"] if a.startswith("--health-port=")).split("=")[1])
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named[container["livenessProbe"]["httpGet"]["port"]] == port
    assert named[container["readinessProbe"]["httpGet"]["port"]] == port
    assert (container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]) == \
        ("/healthz", "/readyz")
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["serviceAccountName"] == "kvtui-reconciler"


def test_the_reconciler_meets_the_restricted_level_its_namespace_enforces(manifests):
    namespace = find(manifests, "Namespace", "kubevirt")
    level = namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    assert level == "restricted"
    pod = find(manifests, "Deployment", "kvtui-reconciler", "kubevirt")["spec"]["template"]["spec"]
    assert violations(pod, level) == []


def test_the_helm_chart_is_what_the_generator_makes_from_the_manifests():
    sys.path.insert(0, str(MANIFESTS / "helm"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    assert generate.differences(generate.generated(), generate.committed()) == [], \
        "charts/kvtui is out of date: run python manifests/helm/generate.py"


def _render_defaults(text: str, values: dict, app_version: str) -> str:
    """The few template expressions the generator writes, filled with the chart's default values."""
    def image(m: re.Match) -> str:
        key = m.group(1)
        return f"{values['images'][key]['repository']}:{values['images'][key]['tag'] or app_version}"

    text = re.sub(r"\{\{ \.Values\.images\.(\w+)\.repository \}\}:\{\{ \.Values\.images\.\1\.tag \| default "
                  r"\.Chart\.AppVersion \}\}", image, text)
    text = text.replace("{{ .Values.namespace }}", values["namespace"])
    text = text.replace("{{ .Values.useEmulation }}", str(values["useEmulation"]).lower())
    return re.sub(r"\n(\s*)\{\{- toYaml \.Values\.featureGates \| nindent (\d+) \}\}",
                  lambda m: "".join(f"\n{' ' * int(m.group(2))}- {g}" for g in values["featureGates"]), text)


def test_the_chart_with_its_default_values_renders_the_same_objects_as_kustomize(manifests, config):
    chart = REPO / "charts" / "kvtui"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
    rendered = [yaml.safe_load(p.read_text()) for p in sorted((chart / "crds").glob("*.yaml"))]
    rendered += [yaml.safe_load(_render_defaults(p.read_text(), values, app_version))
                 for p in sorted((chart / "templates").glob("*.yaml"))]
    for obj in rendered:   # the one addition: rolls the reconciler when the launcher image value changes
        if obj["kind"] == "Deployment":
            assert obj["spec"]["template"]["metadata"].pop("annotations") == {
                "kvtui.io/launcher-image": "kvtui/launcher:0.1.0"}

    def key(o: dict) -> tuple:
        return o["kind"], o["metadata"]["name"]

    assert sorted(rendered, key=key) == sorted(manifests + config, key=key)


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed here")
def test_helm_template_accepts_the_chart():
    proc = subprocess.run(["helm", "template", "kvtui", str(REPO / "charts" / "kvtui"),
                           "--set", "images.launcher.tag=v9"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "kvtui/launcher:v9" in proc.stdout


def test_make_images_says_clearly_when_no_container_engine_exists(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sed", "dirname", "mktemp", "cp", "rm", "find"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    proc = subprocess.run(["bash", str(REPO / "images" / "build.sh")], capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.startswith("images: no container engine available (neither podman nor a docker with a "
                                  "running daemon);\nimages: install podman")


def test_image_build_files_name_what_the_manifests_run():
    reconciler = (REPO / "images" / "reconciler" / "Containerfile").read_text()
    launcher = (REPO / "images" / "launcher" / "Containerfile").read_text()
    demo = (REPO / "images" / "demo" / "Containerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "cluster.reconciler"]' in reconciler
    assert "USER 65532:65532" in reconciler   # the Deployment's runAsUser, so runAsNonRoot holds
    for package in ("qemu-system-x86", "libvirt-daemon-driver-qemu", "python3-libvirt", "passt"):
        assert package in launcher
    assert "COPY vmlinuz /boot/vmlinuz" in demo and "COPY initrd.img /boot/initrd.img" in demo
