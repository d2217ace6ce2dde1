"""Guest memory from Kubernetes quantities."""

import pytest

from launcher.domain import SpecError
from launcher.domain.memory import build_memory, quantity_bytes


def test_seed_memory_is_2048_decimal_megabytes(seed_vmi, golden):
    element = build_memory(seed_vmi)
    assert element.text == "2048000000"
    golden("memory_seed", element)


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        ("2048M", 2048 * 10**6),
        ("256Mi", 256 * 2**20),
        ("1Gi", 2**30),
        ("1.5Gi", 3 * 2**29),
        ("2G", 2 * 10**9),
        ("512Ki", 512 * 1024),
        ("100k", 100_000),
        ("1e9", 10**9),
        ("1E3", 1000),
        ("1E", 10**18),
        (1073741824, 2**30),
        ("1500m", 2),  # fractional bytes round up
        ("1n", 1),
        ("1e-30", 1),
        (".5Ki", 512),
        ("5.", 5),
        ("+0.0", 0),
        ("7Ei", 7 * 2**60),
        ("9E", 9 * 10**18),
    ],
)
def test_quantities(quantity, size):
    assert quantity_bytes(quantity, "f") == size


@pytest.mark.parametrize("quantity", ["8Ei", "10E", "1e999999999", "9223372036854775808"])
def test_a_quantity_beyond_int64_is_refused_without_computing_it(quantity):
    with pytest.raises(SpecError) as caught:
        quantity_bytes(quantity, "spec.domain.memory.guest")
    assert str(caught.value) == (f'spec.domain.memory.guest: must be at most 9223372036854775807, '
                                 f'not "{quantity}"')


@pytest.mark.parametrize("quantity", ["-1Mi", "-0.5"])
def test_a_negative_quantity_is_refused(quantity):
    with pytest.raises(SpecError, match=f'must not be negative, not "{quantity}"'):
        quantity_bytes(quantity, "spec.domain.memory.guest")


@pytest.mark.parametrize("quantity", ["", ".", "Mi", "1.2.3", "0x10", "1 Mi"])
def test_invalid_quantity_forms(quantity):
    with pytest.raises(SpecError, match="invalid quantity"):
        quantity_bytes(quantity, "spec.domain.memory.guest")


def test_invalid_quantity():
    with pytest.raises(SpecError) as caught:
        quantity_bytes("2 GB", "spec.domain.memory.guest")
    assert str(caught.value) == ('spec.domain.memory.guest: invalid quantity "2 GB": use a number with an optional '
                                 'suffix (Ki, Mi, Gi, Ti, k, M, G, T), e.g. "256Mi" or "2G"')


def test_guest_wins_over_requests_and_limits(seed_vmi):
    domain = seed_vmi["spec"]["domain"]
    domain["memory"] = {"guest": "1Gi"}
    domain["resources"]["limits"] = {"memory": "4Gi"}
    assert build_memory(seed_vmi).text == str(2**30)


def test_limits_are_the_last_resort(seed_vmi):
    seed_vmi["spec"]["domain"]["resources"] = {"limits": {"memory": "64Mi"}}
    assert build_memory(seed_vmi).text == str(64 * 2**20)


def test_memory_below_16Mi(seed_vmi):
    seed_vmi["spec"]["domain"]["memory"] = {"guest": "8Mi"}
    with pytest.raises(SpecError) as caught:
        build_memory(seed_vmi)
    assert str(caught.value) == 'spec.domain.memory.guest: must be at least 16Mi, not "8Mi"'


def test_memory_below_16Mi_from_requests(seed_vmi):
    seed_vmi["spec"]["domain"]["resources"]["requests"]["memory"] = "16M"  # decimal: < 16Mi
    with pytest.raises(SpecError, match=r'^spec.domain.resources.requests.memory: must be at least 16Mi, not "16M"$'):
        build_memory(seed_vmi)


def test_no_memory_at_all(seed_vmi):
    seed_vmi["spec"]["domain"]["resources"] = {}
    with pytest.raises(SpecError) as caught:
        build_memory(seed_vmi)
    assert str(caught.value) == ('spec.domain.memory.guest: required: set spec.domain.memory.guest or '
                                 'spec.domain.resources.requests.memory (e.g. "256Mi")')


def test_hugepages_are_refused(seed_vmi):
    seed_vmi["spec"]["domain"]["memory"] = {"guest": "1Gi", "hugepages": {"pageSize": "2Mi"}}
    with pytest.raises(SpecError, match=r"^spec.domain.memory.hugepages: not supported by this launcher"):
        build_memory(seed_vmi)


def test_negative_memory(seed_vmi):
    seed_vmi["spec"]["domain"]["memory"] = {"guest": "-1Gi"}
    with pytest.raises(SpecError, match=r'^spec.domain.memory.guest: must not be negative, not "-1Gi"$'):
        build_memory(seed_vmi)
