"""Label and field selectors: syntax, matching and the apiserver's error messages."""

import pytest

from cluster.apiserver.selectors import (
    LabelSelector,
    Requirement,
    SelectorError,
    check_field_selector,
    field_labels,
    label_selector_from_dict,
    object_fields,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "frontend", "replicas": "3", "kubevirt.io/domain": "vm1"}

NAME_PART_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("app in (db,web)", True),
        ("app in (db,cache)", False),
        ("missing in (a)", False),
        ("app notin (db,cache)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("replicas>2", True),
        ("replicas>3", False),
        ("replicas<4", True),
        ("app>1", False),  # a label that is not a number never satisfies gt/lt
        ("missing<4", False),
        ("kubevirt.io/domain=vm1", True),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("  app = web ,  tier in ( frontend , backend )  ", True),
        ("", True),
    ],
)
def test_label_selector_operators_match_like_kubernetes(selector, matches):
    assert parse_label_selector(selector).matches(LABELS) is matches


def test_empty_values_in_sets_mean_the_empty_string():
    selector = parse_label_selector("x in (foo,,baz),y,z notin ()")
    assert selector.requirements == (
        Requirement("x", "in", ("", "baz", "foo")),
        Requirement("y", "exists"),
        Requirement("z", "notin", ("",)),
    )
    assert selector.matches({"x": "", "y": "1"})
    assert not selector.matches({"x": "", "y": "1", "z": ""})


def test_in_and_notin_are_values_where_a_value_is_expected():
    assert parse_label_selector("mode=in").matches({"mode": "in"})
    assert parse_label_selector("mode in (in,notin)").matches({"mode": "notin"})


def test_exact_match_without_value_means_empty_value():
    selector = parse_label_selector("app=,tier")
    assert selector.requirements[0] == Requirement("app", "=", ("",))
    assert selector.matches({"app": "", "tier": "x"})


def test_selector_string_form_is_sorted_and_canonical():
    selector = parse_label_selector("tier notin (b,a), app=web, !gone, replicas>2, x")
    assert str(selector) == "app=web,!gone,replicas>2,tier notin (a,b),x"


def test_none_and_empty_selectors_select_everything():
    for text in (None, "", "   "):
        selector = parse_label_selector(text)
        assert selector.empty()
        assert selector.matches(None)
    assert not parse_label_selector("app").empty()


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        ("app=web=db", "found '=', expected: ',' or 'end of string'"),
        ("app=web,", "found '', expected: identifier after ','"),
        ("app web", "unable to parse requirement: found 'web', expected: '=', '!=', '==', 'in', notin'"),
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("app=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!=web", "found '!=', expected: !, identifier, or 'end of string'"),
        ("! =web", "unable to parse requirement: found '=', expected: identifier"),
        ("!app=web", "found '=', expected: ',' or 'end of string'"),
    ],
)
def test_label_selector_syntax_errors_are_worded_as_the_apiserver_words_them(selector, message):
    with pytest.raises(SelectorError) as error:
        parse_label_selector(selector)
    assert str(error.value) == message


def test_invalid_label_key_names_the_key():
    with pytest.raises(SelectorError) as error:
        parse_label_selector("app$=web")
    assert str(error.value) == f'unable to parse requirement: <nil>: Invalid value: "app$": {NAME_PART_RULE}'


def test_invalid_key_prefix_is_explained():
    with pytest.raises(SelectorError) as error:
        parse_label_selector("Example.com/app=web")
    assert str(error.value) == (
        'unable to parse requirement: <nil>: Invalid value: "Example.com/app": prefix part a lowercase RFC 1123 '
        "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )


def test_too_long_key_and_value_are_rejected():
    with pytest.raises(SelectorError, match="name part must be no more than 63 characters"):
        parse_label_selector("a" * 64 + "=x")
    with pytest.raises(SelectorError) as error:
        parse_label_selector("app=" + "v" * 64)
    assert str(error.value) == (
        f'unable to parse requirement: values[0][app]: Invalid value: "{"v" * 64}": must be no more than 63 characters'
    )


def test_invalid_label_value_names_key_and_value():
    with pytest.raises(SelectorError) as error:
        parse_label_selector("app=-web")
    assert str(error.value) == f'unable to parse requirement: values[0][app]: Invalid value: "-web": {LABEL_VALUE_RULE}'


def test_gt_and_lt_need_an_integer():
    with pytest.raises(SelectorError) as error:
        parse_label_selector("replicas>three")
    assert str(error.value) == (
        'unable to parse requirement: values[0]: Invalid value: "three": '
        "for 'Gt', 'Lt' operators, the value must be an integer"
    )


def test_metav1_label_selector_combines_match_labels_and_expressions():
    selector = label_selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "replicas", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
            ],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "canary": "true"})
    assert str(selector) == "app=web,!canary,replicas,tier in (edge,frontend),zone notin (b)"


def test_metav1_nil_selector_selects_nothing_and_empty_selects_everything():
    assert not label_selector_from_dict(None).matches(LABELS)
    assert not label_selector_from_dict(None).empty()
    assert label_selector_from_dict({}).matches(LABELS)
    assert label_selector_from_dict({"matchLabels": {}, "matchExpressions": []}).empty()


def test_metav1_selector_errors():
    with pytest.raises(SelectorError) as error:
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]})
    assert str(error.value) == '"Equals" is not a valid label selector operator'

    with pytest.raises(SelectorError) as error:
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
    assert str(error.value) == "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"

    with pytest.raises(SelectorError) as error:
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
    assert str(error.value) == (
        'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'
    )

    with pytest.raises(SelectorError) as error:
        label_selector_from_dict({"matchLabels": {"bad key": "x"}})
    assert str(error.value) == f'key: Invalid value: "bad key": {NAME_PART_RULE}'


def test_label_selector_is_a_frozen_value():
    assert parse_label_selector("a=b,c") == LabelSelector((Requirement("a", "=", ("b",)), Requirement("c", "exists")))


# --------------------------------------------------------------------------------------------
# Field selectors


def test_field_selector_terms_are_anded_and_double_equals_is_equals():
    selector = parse_field_selector("spec.nodeName==node1,status.phase!=Failed,status.phase!=Succeeded")
    assert selector.fields() == {"spec.nodeName", "status.phase"}
    assert [r.operator for r in selector.requirements] == ["=", "!=", "!="]
    assert selector.matches({"spec.nodeName": "node1", "status.phase": "Running"})
    assert not selector.matches({"spec.nodeName": "node1", "status.phase": "Failed"})
    assert not selector.matches({"spec.nodeName": "node2", "status.phase": "Running"})


def test_missing_field_compares_as_empty_string():
    assert parse_field_selector("spec.nodeName=").matches({})
    assert not parse_field_selector("spec.nodeName!=").matches({})
    assert parse_field_selector("spec.nodeName!=node1").matches({})


def test_field_values_may_escape_commas_equals_and_backslashes():
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d,type=Opaque")
    assert selector.matches({"metadata.name": "a,b=c\\d", "type": "Opaque"})
    assert str(selector) == r"metadata.name=a\,b\=c\\d,type=Opaque"


def test_empty_field_selector_selects_everything():
    assert parse_field_selector(None).empty()
    assert parse_field_selector("").matches({"metadata.name": "x"})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=x,bogus", "invalid selector: 'a=x,bogus'; can't understand 'bogus'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: '='"),
        (r"metadata.name=a\q", r"invalid field selector: invalid escape sequence: \q"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_syntax_errors(selector, message):
    with pytest.raises(SelectorError) as error:
        parse_field_selector(selector)
    assert str(error.value) == message


def test_field_labels_per_kind():
    assert field_labels("", "Pod") >= {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}
    assert "involvedObject.uid" in field_labels("", "Event")
    assert field_labels("", "Node") == {"metadata.name", "metadata.namespace", "spec.unschedulable"}
    assert field_labels("", "Namespace") == {"metadata.name", "metadata.namespace", "status.phase"}
    assert field_labels("", "Secret") == {"metadata.name", "metadata.namespace", "type"}
    assert field_labels("kubevirt.io", "VirtualMachine") == {"metadata.name", "metadata.namespace"}


def test_unsupported_field_label_is_rejected_with_the_apiserver_message():
    with pytest.raises(SelectorError) as error:
        check_field_selector(parse_field_selector("metadata.name=x,spec.running=true"), "kubevirt.io",
                             "VirtualMachine", "virtualmachines")
    assert str(error.value) == "field label not supported: spec.running"
    # whitespace is not trimmed by the apiserver either
    with pytest.raises(SelectorError, match="field label not supported: status.phase $"):
        check_field_selector(parse_field_selector("status.phase =Running"), "", "Pod", "pods")


def test_selectors_kubectl_describe_sends_are_supported():
    events = parse_field_selector(
        "involvedObject.kind=VirtualMachine,involvedObject.name=vm1,involvedObject.namespace=default,"
        "involvedObject.uid=1234"
    )
    check_field_selector(events, "", "Event", "events")
    pods = parse_field_selector("spec.nodeName=node1,status.phase!=Failed,status.phase!=Succeeded")
    check_field_selector(pods, "", "Pod", "pods")


def test_pod_fields():
    pod = {
        "metadata": {"name": "virt-launcher-vm1-abcde", "namespace": "default"},
        "spec": {"nodeName": "node1", "restartPolicy": "Never", "serviceAccountName": "default"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}], "podIP": "10.0.0.7"},
    }
    fields = object_fields("", "Pod", pod)
    assert fields["metadata.name"] == "virt-launcher-vm1-abcde"
    assert fields["metadata.namespace"] == "default"
    assert fields["spec.nodeName"] == "node1"
    assert fields["spec.hostNetwork"] == "false"
    assert fields["spec.schedulerName"] == ""
    assert fields["status.podIP"] == "10.0.0.7"
    assert parse_field_selector("spec.host=node1").matches(fields)


def test_event_fields_fall_back_to_reporting_component_for_source():
    event = {
        "metadata": {"name": "vm1.17a", "namespace": "default"},
        "involvedObject": {"kind": "VirtualMachine", "name": "vm1", "namespace": "default", "uid": "u1"},
        "reason": "SuccessfulCreate",
        "type": "Normal",
        "reportingComponent": "virtualmachine-controller",
    }
    fields = object_fields("", "Event", event)
    assert fields["source"] == "virtualmachine-controller"
    assert fields["involvedObject.uid"] == "u1"
    assert fields["involvedObject.fieldPath"] == ""
    selector = parse_field_selector("involvedObject.name=vm1,involvedObject.namespace=default,involvedObject.uid=u1")
    assert selector.matches(fields)


def test_node_namespace_and_secret_fields():
    assert object_fields("", "Node", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}) == {
        "metadata.name": "n",
        "metadata.namespace": "",
        "spec.unschedulable": "true",
    }
    assert object_fields("", "Namespace", {"metadata": {"name": "ns"}, "status": {"phase": "Terminating"}})[
        "status.phase"
    ] == "Terminating"
    assert object_fields("", "Secret", {"metadata": {"name": "s"}, "type": "Opaque"})["type"] == "Opaque"
