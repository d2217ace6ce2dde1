"""The PATCH engines: strategic merge patch on built-in kinds, JSON merge patch and JSON patch.

Every strategic-merge result below was checked against `kubectl patch --local` (kubectl 1.37), which
runs the same k8s.io/apimachinery code as kube-apiserver, including its ordering of merged lists."""

import copy
import json

import pytest

from cluster.apiserver import patching
from cluster.apiserver.patching import PatchError


def smp(doc: dict, patch: dict, group: str = "", kind: str = "Pod") -> dict:
    return patching.apply_strategic_merge_patch(doc, patch, group, kind)


def pod(spec: dict | None = None, metadata: dict | None = None, status: dict | None = None) -> dict:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **(metadata or {})},
           "spec": spec if spec is not None else {"containers": [{"name": "app", "image": "busybox"}]}}
    if status is not None:
        obj["status"] = status
    return obj


def names(items: list[dict]) -> list:
    return [item.get("name") for item in items]


def env(*pairs: tuple[str, str]) -> list[dict]:
    return [{"name": name, "value": value} for name, value in pairs]


@pytest.fixture
def two_containers() -> dict:
    return pod({"containers": [
        {"name": "a", "image": "i", "env": env(("A", "1"), ("B", "2"))},
        {"name": "b", "image": "j"},
    ]}, {"finalizers": ["x", "y"], "labels": {"k": "v"}})


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "app", "image": "web:1", "env": env(("A", "1"), ("B", "1"))},
                {"name": "side", "image": "proxy:1"},
            ]}},
        },
    }


# --------------------------------------------------------------------------------------------
# Strategic merge patch: maps


def test_maps_merge_and_null_deletes_a_key(two_containers):
    patched = smp(two_containers, {"metadata": {"labels": {"k": None, "new": "1"}}})
    assert patched["metadata"]["labels"] == {"new": "1"}
    assert patched["metadata"]["finalizers"] == ["x", "y"]


def test_null_for_a_key_the_object_lacks_changes_nothing(two_containers):
    patched = smp(two_containers, {"metadata": {"labels": {"absent": None}}, "spec": {"absent": None}})
    assert patched == two_containers


def test_patch_does_not_modify_its_inputs(two_containers):
    before = copy.deepcopy(two_containers)
    patch = {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}
    smp(two_containers, patch)
    assert two_containers == before
    assert patch == {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}


def test_patch_replace_in_a_map_replaces_the_map(two_containers):
    patched = smp(two_containers, {"metadata": {"labels": {"$patch": "replace", "only": "1"}}})
    assert patched["metadata"]["labels"] == {"only": "1"}


def test_patch_delete_in_a_map_leaves_it_empty_like_kube_apiserver(two_containers):
    patched = smp(two_containers, {"metadata": {"labels": {"$patch": "delete"}}})
    assert patched["metadata"]["labels"] == {}


def test_nulls_inside_a_new_map_are_dropped(two_containers):
    patched = smp(two_containers, {"spec": {"securityContext": {"runAsUser": 1000, "fsGroup": None}}})
    assert patched["spec"]["securityContext"] == {"runAsUser": 1000}


def test_configmap_data_merges_key_by_key():
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    patched = smp(configmap, {"data": {"a": None, "c": "3"}}, "", "ConfigMap")
    assert patched["data"] == {"b": "2", "c": "3"}


# --------------------------------------------------------------------------------------------
# Strategic merge patch: lists merged by key


def test_containers_merge_by_name_in_place(two_containers):
    patched = smp(two_containers, {"spec": {"containers": [{"name": "b", "image": "j2"}]}})
    assert patched["spec"]["containers"] == [
        {"name": "a", "image": "i", "env": env(("A", "1"), ("B", "2"))},
        {"name": "b", "image": "j2"},
    ]


def test_a_new_element_without_set_element_order_goes_first_as_on_a_real_cluster(two_containers):
    patched = smp(two_containers, {"spec": {"containers": [{"name": "new", "image": "z"}]}})
    assert names(patched["spec"]["containers"]) == ["new", "a", "b"]


def test_patch_order_wins_over_live_order_for_the_elements_it_names():
    live = pod({"containers": [{"name": n} for n in "CBDAE"]})
    patched = smp(live, {"spec": {"containers": [{"name": "A", "image": "a"}, {"name": "N"},
                                                 {"name": "B", "image": "b"}]}})
    assert names(patched["spec"]["containers"]) == ["C", "D", "A", "N", "B", "E"]


def test_patch_delete_removes_one_element(two_containers):
    patched = smp(two_containers, {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}})
    assert patched["spec"]["containers"] == [{"name": "b", "image": "j"}]


def test_patch_replace_element_replaces_the_whole_list(two_containers):
    patched = smp(two_containers, {"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "q"}]}})
    assert patched["spec"]["containers"] == [{"name": "z", "image": "q"}]


def test_an_empty_merged_list_in_the_patch_changes_nothing(two_containers):
    assert smp(two_containers, {"spec": {"containers": []}}) == two_containers


def test_env_merges_by_name_inside_a_merged_container(two_containers):
    patched = smp(two_containers, {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "9"}]}]}})
    assert patched["spec"]["containers"][0]["env"] == env(("A", "1"), ("B", "9"))


def test_container_ports_merge_by_container_port():
    live = pod({"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]}]})
    patched = smp(live, {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"},
                                                                        {"containerPort": 8080}]}]}})
    assert patched["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 8080}, {"containerPort": 443}]


def test_volume_mounts_merge_by_mount_path():
    live = pod({"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/a", "name": "x"}]}]})
    patched = smp(live, {"spec": {"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/a", "name": "y"}]}]}})
    assert patched["spec"]["containers"][0]["volumeMounts"] == [{"mountPath": "/a", "name": "y"}]


def test_image_pull_secrets_and_host_aliases_merge():
    live = pod({"containers": [], "imagePullSecrets": [{"name": "a"}],
                "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["one"]}]})
    patched = smp(live, {"spec": {"imagePullSecrets": [{"name": "b"}],
                                  "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["uno"]}, {"ip": "10.0.0.2"}]}})
    assert patched["spec"]["imagePullSecrets"] == [{"name": "b"}, {"name": "a"}]
    assert patched["spec"]["hostAliases"] == [{"ip": "10.0.0.1", "hostnames": ["uno"]}, {"ip": "10.0.0.2"}]


def test_owner_references_merge_by_uid():
    live = pod(metadata={"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]})
    patched = smp(live, {"metadata": {"ownerReferences": [{"uid": "2", "name": "bb"}, {"uid": "3", "name": "c"}]}})
    assert patched["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "a"}, {"uid": "2", "name": "bb"}, {"uid": "3", "name": "c"}]


def test_pod_status_conditions_merge_by_type_but_container_statuses_are_replaced():
    live = pod(status={"conditions": [{"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}],
                       "containerStatuses": [{"name": "a", "ready": False}, {"name": "b"}]})
    patched = smp(live, {"status": {"conditions": [{"type": "Ready", "status": "True"}],
                                    "containerStatuses": [{"name": "a", "ready": True}]}})
    assert patched["status"] == {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
        "containerStatuses": [{"name": "a", "ready": True}],
    }


def test_a_new_merged_list_drops_delete_directives():
    patched = smp(pod({}), {"spec": {"initContainers": [{"name": "gone", "$patch": "delete"}, {"name": "init"}]}})
    assert patched["spec"] == {"initContainers": [{"name": "init"}]}


# --------------------------------------------------------------------------------------------
# Strategic merge patch: lists replaced, primitive lists


def test_lists_without_a_strategy_are_replaced():
    live = pod({"containers": [], "tolerations": [{"key": "a"}, {"key": "b"}]})
    patched = smp(live, {"spec": {"tolerations": [{"key": "c"}]}})
    assert patched["spec"]["tolerations"] == [{"key": "c"}]


def test_finalizers_are_a_union_with_new_ones_first(two_containers):
    patched = smp(two_containers, {"metadata": {"finalizers": ["z", "x"]}})
    assert patched["metadata"]["finalizers"] == ["z", "x", "y"]


def test_duplicate_finalizers_in_the_patch_are_kept_once():
    patched = smp(pod(metadata={"finalizers": ["a"]}), {"metadata": {"finalizers": ["b", "b", "a"]}})
    assert patched["metadata"]["finalizers"] == ["b", "a"]


def test_delete_from_primitive_list(two_containers):
    patched = smp(two_containers, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}})
    assert patched["metadata"]["finalizers"] == ["y"]


def test_delete_from_a_missing_primitive_list_changes_nothing():
    assert smp(pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}) == pod()


def test_namespace_spec_finalizers_are_replaced_but_status_conditions_merge():
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"},
                 "spec": {"finalizers": ["kubernetes"]},
                 "status": {"phase": "Active", "conditions": [{"type": "A", "status": "True"}]}}
    patched = smp(namespace, {"spec": {"finalizers": ["other"]}, "status": {"conditions": [{"type": "B", "status": "False"}]}},
                  "", "Namespace")
    assert patched["spec"]["finalizers"] == ["other"]
    assert patched["status"]["conditions"] == [{"type": "B", "status": "False"}, {"type": "A", "status": "True"}]


# --------------------------------------------------------------------------------------------
# Strategic merge patch: $setElementOrder and $retainKeys (what kubectl apply sends)


def test_kubectl_apply_three_way_patch_changes_one_env_var():
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"name": "app", "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                            "env": [{"name": "B", "value": "2"}]}],
        }}},
    }
    patched = smp(deployment(), patch, "apps", "Deployment")
    expected = deployment()
    expected["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    expected["spec"]["template"]["spec"]["containers"][0]["env"] = env(("A", "1"), ("B", "2"))
    assert patched == expected


def test_set_element_order_reorders_and_merges(two_containers):
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                      "containers": [{"name": "a", "$setElementOrder/env": [{"name": "B"}, {"name": "C"}, {"name": "A"}],
                                      "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}]}]}}
    patched = smp(two_containers, patch)
    assert names(patched["spec"]["containers"]) == ["b", "a"]
    assert patched["spec"]["containers"][1]["env"] == env(("B", "2"), ("C", "3"), ("A", "9"))


def test_set_element_order_interleaves_server_only_elements_by_their_live_position():
    live = pod({"containers": [{"name": n} for n in "CBDAE"]})
    patched = smp(live, {"spec": {"$setElementOrder/containers": [{"name": "A"}, {"name": "B"}],
                                  "containers": [{"name": "A", "image": "a"}, {"name": "B", "image": "b"}]}})
    assert names(patched["spec"]["containers"]) == ["C", "D", "A", "B", "E"]


def test_apply_that_removes_and_adds_env_vars_next_to_server_added_ones():
    # The live list has ENV5 and ENV4 added by someone else; the manifest dropped ENV3 and added ENV6.
    live = pod({"containers": [{"name": "x", "env": env(("ENV2", "bar"), ("ENV5", "s2"), ("ENV1", "foo"),
                                                         ("ENV3", "baz"), ("ENV4", "s1"))}]})
    patch = {"spec": {"containers": [{"name": "x",
                                      "$setElementOrder/env": [{"name": "ENV1"}, {"name": "ENV2"}, {"name": "ENV6"}],
                                      "env": [{"name": "ENV3", "$patch": "delete"}, {"name": "ENV6", "value": "new"}]}]}}
    patched = smp(live, patch)
    assert names(patched["spec"]["containers"][0]["env"]) == ["ENV5", "ENV1", "ENV2", "ENV4", "ENV6"]


def test_set_element_order_of_finalizers_with_deletion():
    live = pod(metadata={"finalizers": ["b", "e", "a", "c", "d"]})
    patched = smp(live, {"metadata": {"$setElementOrder/finalizers": ["a", "b", "f"],
                                      "$deleteFromPrimitiveList/finalizers": ["c"], "finalizers": ["f"]}})
    assert patched["metadata"]["finalizers"] == ["e", "a", "b", "f", "d"]


def test_set_element_order_alone_only_reorders():
    patched = smp(pod(metadata={"finalizers": ["a", "b", "c"]}), {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}})
    assert patched["metadata"]["finalizers"] == ["c", "b", "a"]


def test_retain_keys_switches_a_volume_source():
    live = pod({"containers": [], "volumes": [{"name": "data", "emptyDir": {}}, {"name": "host", "hostPath": {"path": "/x"}}]})
    patch = {"spec": {"$setElementOrder/volumes": [{"name": "data"}, {"name": "host"}],
                      "volumes": [{"name": "data", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}}]}}
    patched = smp(live, patch)
    assert patched["spec"]["volumes"] == [{"name": "data", "configMap": {"name": "cm"}},
                                          {"name": "host", "hostPath": {"path": "/x"}}]


def test_retain_keys_on_deployment_strategy():
    patched = smp(deployment(), {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
                  "apps", "Deployment")
    assert patched["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_pod_template_containers_merge_by_name():
    patched = smp(deployment(), {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "proxy:2"}]}}}},
                  "apps", "Deployment")
    assert patched["spec"]["template"]["spec"]["containers"][1] == {"name": "side", "image": "proxy:2"}
    assert names(patched["spec"]["template"]["spec"]["containers"]) == ["app", "side"]


# --------------------------------------------------------------------------------------------
# Strategic merge patch: other kinds


def node() -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "spec": {"podCIDRs": ["10.0.0.0/24"], "taints": [{"key": "a", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
                       "addresses": [{"type": "InternalIP", "address": "10.1.1.1"}]}}


def test_node_status_conditions_and_addresses_merge_by_type():
    patched = smp(node(), {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletDown"}],
                                      "addresses": [{"type": "Hostname", "address": "n1"}]}}, "", "Node")
    assert patched["status"] == {
        "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletDown"},
                       {"type": "MemoryPressure", "status": "False"}],
        "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.1.1.1"}],
    }


def test_node_taints_are_replaced_and_pod_cidrs_unioned():
    patched = smp(node(), {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["10.0.1.0/24"]}},
                  "", "Node")
    assert patched["spec"] == {"podCIDRs": ["10.0.1.0/24", "10.0.0.0/24"], "taints": [{"key": "b", "effect": "NoExecute"}]}


def test_kubectl_cordon_patch():
    assert smp(node(), {"spec": {"unschedulable": True}}, "", "Node")["spec"]["unschedulable"] is True


def test_service_ports_merge_by_port():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}], "selector": {"app": "web"}}}
    patched = smp(service, {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 53, "protocol": "UDP"}]}},
                  "", "Service")
    assert patched["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 53, "protocol": "UDP"}, {"port": 443}]


def test_a_kind_without_a_table_still_merges_metadata_lists():
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "finalizers": ["a"]},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    patched = smp(role, {"metadata": {"finalizers": ["b"]}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]},
                  "rbac.authorization.k8s.io", "Role")
    assert patched["metadata"]["finalizers"] == ["b", "a"]
    assert patched["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]


def test_shapes_follow_the_kind_root():
    assert patching.strategic_merge_shape("", "Pod")["spec"].fields["containers"].merge_key == "name"
    template = patching.strategic_merge_shape("apps", "StatefulSet")["spec"].fields["template"]
    assert template.fields["spec"].fields["volumes"].merge_key == "name"
    assert template.fields["spec"].fields["volumes"].retain_keys


# --------------------------------------------------------------------------------------------
# Strategic merge patch: errors


def test_missing_merge_key_names_the_list_and_the_fix(two_containers):
    with pytest.raises(PatchError) as error:
        smp(two_containers, {"spec": {"containers": [{"image": "x"}]}})
    assert error.value.code == 400
    assert str(error.value) == ("an element of the list at spec.containers has no merge key 'name': "
                                "{\"image\": \"x\"}; add 'name' to say which element it patches")


def test_retain_keys_must_name_every_field_the_patch_sets():
    live = pod({"containers": [], "volumes": [{"name": "d", "emptyDir": {}}]})
    with pytest.raises(PatchError) as error:
        smp(live, {"spec": {"volumes": [{"name": "d", "$retainKeys": ["name"], "configMap": {"name": "cm"}}]}})
    assert error.value.code == 400
    assert str(error.value) == ("the patch sets spec.volumes[name=d].configMap, which its $retainKeys list ['name'] "
                                "does not name; add 'configMap' to $retainKeys")


@pytest.mark.parametrize("patch, message", [
    ({"spec": {"$patch": "bogus"}},
     "unknown $patch directive 'bogus' at spec; use \"replace\", \"delete\" or \"merge\""),
    ({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}},
     "unknown $patch directive 'merge' in an element of the list at spec.containers; "
     "use \"delete\" (with the merge key) or \"replace\""),
    ({"spec": {"$setElementOrder/containers": "a"}},
     "$setElementOrder/containers at spec must be a list, got a string"),
    ({"spec": {"$retainKeys": "containers"}},
     "$retainKeys at spec must be a list of field names, got a string"),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}},
     "$deleteFromPrimitiveList/finalizers at metadata must be a list of values, got a string"),
    ({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b", "image": "q"}]}},
     "the order of spec.containers in the patch does not match $setElementOrder/containers: "
     "'b' is missing from it or out of order"),
    ({"spec": {"$foo": 1}},
     "unknown strategic merge patch directive '$foo' at spec; known directives: $patch, $retainKeys, "
     "$setElementOrder/<list>, $deleteFromPrimitiveList/<list>"),
])
def test_malformed_directives_are_bad_requests(two_containers, patch, message):
    with pytest.raises(PatchError) as error:
        smp(two_containers, patch)
    assert (error.value.code, error.value.reason, str(error.value)) == (400, "BadRequest", message)


def test_lists_of_lists_are_unprocessable(two_containers):
    with pytest.raises(PatchError) as error:
        smp(two_containers, {"metadata": {"finalizers": [["a"]]}})
    assert (error.value.code, error.value.reason) == (422, "Invalid")
    assert str(error.value) == "lists of lists are not supported by strategic merge patch at metadata.finalizers"


def test_a_strategic_merge_patch_must_be_an_object(two_containers):
    with pytest.raises(PatchError) as error:
        smp(two_containers, [{"op": "add"}])  # type: ignore[arg-type]
    assert str(error.value) == "a strategic merge patch must be a JSON object, got an array"


# --------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386 appendix A)


@pytest.mark.parametrize("target, patch, result", [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"x": [1, 2]}, {"x": {"a": "b", "c": None}}, {"x": {"a": "b"}}),
    ({"x": {"a": "foo"}}, {"x": "bar"}, {"x": "bar"}),
])
def test_merge_patch_rfc7386_examples(target, patch, result):
    assert patching.apply_merge_patch(target, patch) == result


def test_merge_patch_replaces_lists_and_drops_null_members_inside_them_like_kube_apiserver():
    doc = pod()
    patched = patching.apply_merge_patch(doc, {"spec": {"containers": [{"name": "z", "image": None}], "x": [None, 1]}})
    assert patched["spec"] == {"containers": [{"name": "z"}], "x": [None, 1]}
    assert doc == pod()


def test_merge_patch_must_be_an_object():
    with pytest.raises(PatchError) as error:
        patching.apply_merge_patch(pod(), ["a"])
    assert (error.value.code, str(error.value)) == (400, "a merge patch must be a JSON object, got an array")


# --------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)


def labelled_pod() -> dict:
    return pod(metadata={"labels": {"app": "web"}}, spec={"containers": [{"name": "a", "image": "i"}], "args": [1, 2]})


def test_json_patch_operations_apply_in_order():
    patched = patching.apply_json_patch(labelled_pod(), [
        {"op": "test", "path": "/metadata/labels/app", "value": "web"},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "b"}},
        {"op": "add", "path": "/spec/args/1", "value": 9},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "j"},
        {"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/name"},
        {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/annotations"},
        {"op": "remove", "path": "/spec/args/0"},
    ])
    assert patched["metadata"] == {"name": "p", "labels": {"app": "web", "name": "p"}, "annotations": "front"}
    assert patched["spec"] == {"containers": [{"name": "a", "image": "j"}, {"name": "b"}], "args": [9, 2]}


def test_json_patch_replace_creates_a_missing_member_like_kube_apiserver():
    patched = patching.apply_json_patch(labelled_pod(), [{"op": "replace", "path": "/spec/runStrategy", "value": "Always"}])
    assert patched["spec"]["runStrategy"] == "Always"


def test_failed_test_operation_is_422_and_leaves_the_object_alone():
    doc = labelled_pod()
    with pytest.raises(PatchError) as error:
        patching.apply_json_patch(doc, [{"op": "remove", "path": "/metadata/labels"},
                                        {"op": "test", "path": "/metadata/name", "value": "other"}])
    assert (error.value.code, error.value.reason) == (422, "Invalid")
    assert str(error.value).startswith("testing value /metadata/name failed: test failed "
                                       "(json patch operation 1 (test /metadata/name):")
    assert doc == labelled_pod()


@pytest.mark.parametrize("operation, message", [
    ({"op": "test", "path": "/metadata/labels/x", "value": "q"},
     "test operation does not apply: is missing path: /metadata/labels/x (json patch operation 0 "
     "(test /metadata/labels/x))"),
    ({"op": "remove", "path": "/metadata/labels/x"},
     "remove operation does not apply: doc is missing path: \"/metadata/labels/x\" "
     "(json patch operation 0 (remove /metadata/labels/x): can't remove a non-existent object 'x')"),
    ({"op": "add", "path": "/spec/nope/x", "value": 1},
     "add operation does not apply: doc is missing path: \"/spec/nope/x\" "
     "(json patch operation 0 (add /spec/nope/x): member 'nope' not found in"),
    ({"op": "move", "from": "/nope", "path": "/spec/x"},
     "move operation does not apply: doc is missing path: \"/nope\" (json patch operation 0 (move /spec/x): "),
    ({"op": "bogus", "path": "/a"},
     "json patch operation 0 (bogus /a): unknown operation 'bogus'; use add, remove, replace, move, copy or test"),
    ({"op": "add", "value": 1},
     "json patch operation 0 (add None): the operation has no \"path\" JSON pointer"),
    ({"op": "add", "path": "metadata", "value": 1},
     "json patch operation 0 (add metadata): \"path\" is not a JSON pointer: Location must start with /"),
    ({"op": "add", "path": "/metadata/x"},
     "json patch operation 0 (add /metadata/x): The operation does not contain a 'value' member"),
])
def test_json_patch_operations_that_do_not_apply_are_422(operation, message):
    with pytest.raises(PatchError) as error:
        patching.apply_json_patch(labelled_pod(), [operation])
    assert error.value.code == 422
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("patch, message", [
    ({"op": "add"}, "a json patch must be an array of operations, got an object"),
    ([1], "json patch operation 0 must be an object, got a number"),
])
def test_json_patch_of_the_wrong_shape_is_400(patch, message):
    with pytest.raises(PatchError) as error:
        patching.apply_json_patch(labelled_pod(), patch)
    assert (error.value.code, str(error.value)) == (400, message)


def test_json_patch_with_too_many_operations_is_413():
    patch = [{"op": "test", "path": "/kind", "value": "Pod"}] * (patching.MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(PatchError) as error:
        patching.apply_json_patch(labelled_pod(), patch)
    assert (error.value.code, error.value.reason) == (413, "RequestEntityTooLarge")
    assert str(error.value) == "The allowed maximum operations in a JSON patch is 10000, got 10001"


def test_json_patch_cannot_turn_the_object_into_something_else():
    with pytest.raises(PatchError) as error:
        patching.apply_json_patch(labelled_pod(), [{"op": "replace", "path": "", "value": [1]}])
    assert (error.value.code, str(error.value)) == (422, "the json patch replaced the whole object with an array")


# --------------------------------------------------------------------------------------------
# apply_patch: parsing and dispatch


def body(value) -> bytes:
    return json.dumps(value).encode()


def test_apply_patch_dispatches_on_the_content_type(two_containers):
    new_container = {"spec": {"containers": [{"name": "n"}]}}
    strategic = patching.apply_patch(patching.STRATEGIC_MERGE_PATCH, two_containers, body(new_container), "", "Pod")
    merge = patching.apply_patch(patching.MERGE_PATCH, two_containers, body(new_container), "", "Pod")
    json_patch = patching.apply_patch(patching.JSON_PATCH, two_containers,
                                      body([{"op": "remove", "path": "/spec/containers/1"}]), "", "Pod")
    assert names(strategic["spec"]["containers"]) == ["n", "a", "b"]
    assert names(merge["spec"]["containers"]) == ["n"]
    assert names(json_patch["spec"]["containers"]) == ["a"]


def test_apply_patch_ignores_content_type_parameters(two_containers):
    patched = patching.apply_patch("application/merge-patch+json; charset=utf-8", two_containers,
                                   body({"metadata": {"labels": None}}), "", "Pod")
    assert "labels" not in patched["metadata"]


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "error decoding patch: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b"", "error decoding patch: the body is empty"),
    (b'{"a": NaN}', "error decoding patch: invalid JSON value NaN"),
    (b"\xff", "error decoding patch: the body is not UTF-8 text: 'utf-8' codec can't decode byte 0xff in position 0: "
              "invalid start byte"),
])
def test_malformed_bodies_are_400_with_the_parser_message(two_containers, raw, message):
    with pytest.raises(PatchError) as error:
        patching.apply_patch(patching.MERGE_PATCH, two_containers, raw, "", "Pod")
    assert (error.value.code, error.value.reason, str(error.value)) == (400, "BadRequest", message)


def test_a_null_strategic_merge_patch_changes_nothing(two_containers):
    assert patching.apply_patch(patching.STRATEGIC_MERGE_PATCH, two_containers, b"null", "", "Pod") == two_containers


def test_server_side_apply_and_unknown_types_are_415(two_containers):
    with pytest.raises(PatchError) as error:
        patching.apply_patch(patching.APPLY_PATCH, two_containers, b"{}", "", "Pod")
    assert (error.value.code, error.value.reason) == (415, "UnsupportedMediaType")
    assert str(error.value) == ("application/apply-patch+yaml (server-side apply) is not supported by this server; "
                                "use client-side apply (kubectl apply without --server-side)")
    with pytest.raises(PatchError) as error:
        patching.apply_patch("text/plain", two_containers, b"{}", "", "Pod")
    assert error.value.code == 415
    assert str(error.value) == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json")
