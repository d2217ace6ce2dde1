"""Interfaces: masquerade over passt with port forwards, and what is refused."""

import pytest

from launcher.domain import SpecError
from launcher.domain.network import build_interfaces

from .conftest import seed_context


def _interface(vmi):
    return vmi["spec"]["domain"]["devices"]["interfaces"][0]


def test_seed_masquerade_forwards_port_80(seed_vmi, seed_ctx, golden):
    golden("network_seed", build_interfaces(seed_vmi, seed_ctx))


def test_model_mac_udp_ports_boot_order_and_link_down(seed_vmi, seed_ctx, golden):
    _interface(seed_vmi).update(
        model="e1000e", macAddress="02-AB-CD-00-00-01", bootOrder=2, state="down",
        ports=[{"port": 80}, {"port": 443, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
    )
    golden("network_options", build_interfaces(seed_vmi, seed_ctx))


def test_no_interfaces_and_no_networks_get_the_default(seed_vmi, seed_ctx):
    del seed_vmi["spec"]["domain"]["devices"]["interfaces"]
    del seed_vmi["spec"]["networks"]
    (interface,) = build_interfaces(seed_vmi, seed_ctx)
    assert interface.get("type") == "user"
    assert interface.find("alias").get("name") == "ua-default"
    assert interface.find("portForward") is None


def test_autoattach_pod_interface_false_means_no_nic(seed_vmi, seed_ctx):
    del seed_vmi["spec"]["domain"]["devices"]["interfaces"]
    del seed_vmi["spec"]["networks"]
    seed_vmi["spec"]["domain"]["devices"]["autoattachPodInterface"] = False
    assert build_interfaces(seed_vmi, seed_ctx) == []


def test_slirp_without_ports(seed_vmi):
    del _interface(seed_vmi)["ports"]
    (interface,) = build_interfaces(seed_vmi, seed_context(user_network_backend="slirp"))
    assert interface.find("backend") is None


def test_ports_need_passt(seed_vmi):
    with pytest.raises(SpecError) as caught:
        build_interfaces(seed_vmi, seed_context(user_network_backend="slirp"))
    assert str(caught.value) == ("spec.domain.devices.interfaces[0].ports: port forwarding needs the passt network "
                                 "backend, which is not installed on this node: install passt or remove ports")


def test_interface_without_a_network(seed_vmi, seed_ctx):
    _interface(seed_vmi)["name"] = "lan"
    with pytest.raises(SpecError) as caught:
        build_interfaces(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.devices.interfaces[0].name: no network named "lan": add '
                                 '{name: lan, pod: {}} to spec.networks or remove the interface')


def test_network_without_an_interface(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["interfaces"] = []
    with pytest.raises(SpecError, match=r'^spec.networks\[0\].name: network "default" has no interface'):
        build_interfaces(seed_vmi, seed_ctx)


def test_bridge_without_a_tap(seed_vmi, seed_ctx):
    iface = _interface(seed_vmi)
    del iface["masquerade"], iface["ports"]
    iface["bridge"] = {}
    with pytest.raises(SpecError) as caught:
        build_interfaces(seed_vmi, seed_ctx)
    assert str(caught.value) == ("spec.domain.devices.interfaces[0].bridge: bridge binding needs a tap device, "
                                 "which this platform does not provide: use masquerade: {}")


def test_bridge_with_a_tap(seed_vmi):
    iface = _interface(seed_vmi)
    del iface["masquerade"], iface["ports"]
    iface["bridge"] = {}
    (interface,) = build_interfaces(seed_vmi, seed_context(tap_device="tap0"))
    assert interface.get("type") == "ethernet"
    assert interface.find("target").attrib == {"dev": "tap0", "managed": "no"}


def test_sriov_is_refused(seed_vmi, seed_ctx):
    iface = _interface(seed_vmi)
    del iface["masquerade"]
    iface["sriov"] = {}
    with pytest.raises(SpecError, match=r"^spec.domain.devices.interfaces\[0\].sriov: this binding is not supported"):
        build_interfaces(seed_vmi, seed_ctx)


def test_multus_is_refused(seed_vmi, seed_ctx):
    seed_vmi["spec"]["networks"] = [{"name": "default", "multus": {"networkName": "lan"}}]
    with pytest.raises(SpecError, match=r"^spec.networks\[0\].multus: Multus networks are not supported"):
        build_interfaces(seed_vmi, seed_ctx)


@pytest.mark.parametrize(
    ("mac", "message"),
    [
        ("02:00:00:00:00", 'must be a MAC address like "02:00:00:00:00:01", not "02:00:00:00:00"'),
        ("01:00:5e:00:00:01", '"01:00:5e:00:00:01" is a multicast address: the first byte must be even, '
                              'e.g. "02:00:00:00:00:01"'),
    ],
)
def test_bad_mac_address(seed_vmi, seed_ctx, mac, message):
    _interface(seed_vmi)["macAddress"] = mac
    with pytest.raises(SpecError) as caught:
        build_interfaces(seed_vmi, seed_ctx)
    assert caught.value.field == "spec.domain.devices.interfaces[0].macAddress"
    assert caught.value.message == message


def test_unknown_model(seed_vmi, seed_ctx):
    _interface(seed_vmi)["model"] = "vmxnet3"
    with pytest.raises(SpecError, match=r'^spec.domain.devices.interfaces\[0\].model: unsupported value "vmxnet3"'):
        build_interfaces(seed_vmi, seed_ctx)


def test_boot_order_shared_with_a_disk(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0]["bootOrder"] = 1
    _interface(seed_vmi)["bootOrder"] = 1
    with pytest.raises(SpecError) as caught:
        build_interfaces(seed_vmi, seed_ctx)
    assert str(caught.value) == ("spec.domain.devices.interfaces[0].bootOrder: duplicate boot order 1: "
                                 "spec.domain.devices.disks[0].bootOrder already uses it; give each device its "
                                 "own bootOrder")


def test_port_out_of_range(seed_vmi, seed_ctx):
    _interface(seed_vmi)["ports"] = [{"port": 70000}]
    with pytest.raises(SpecError, match=r"^spec.domain.devices.interfaces\[0\].ports\[0\].port: must be at most 65535"):
        build_interfaces(seed_vmi, seed_ctx)


def test_duplicate_port(seed_vmi, seed_ctx):
    _interface(seed_vmi)["ports"] = [{"port": 80}, {"port": 80, "protocol": "TCP"}]
    with pytest.raises(SpecError, match=r"^spec.domain.devices.interfaces\[0\].ports\[1\].port: duplicate port 80/TCP"):
        build_interfaces(seed_vmi, seed_ctx)
