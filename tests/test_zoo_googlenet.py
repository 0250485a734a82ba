"""The zoo's GoogLeNet (the FPL 2018 DLA validation point) against the published network."""

import pytest

from dla_explorer.workload import extract, zoo


def test_googlenet_matches_the_published_table():
    workload = extract(zoo.get("googlenet"), (1, 3, 224, 224), name="googlenet")
    layers = {la.name: la for la in workload.layers}
    # Szegedy et al. 2015, table 1: 3 stem convs + 9 inception modules of 6 convs + the classifier
    assert len(workload.layers) == 3 + 9 * 6 + 1
    assert sum(op.kind == "concat" for op in workload.ops) == 9
    # spatial sizes of the table: 112, 56 (stem), 28 (3a-3b), 14 (4a-4e), 7 (5a-5b)
    sizes = {name: layers[f"{name}.branch1.0"].P for name in ("inception3a", "inception4e", "inception5b")}
    assert (layers["conv1"].P, layers["conv3"].P, sizes) == (
        112,
        56,
        {"inception3a": 28, "inception4e": 14, "inception5b": 7},
    )
    # the 5x5 branch as published (torchvision's uses 3x3): 5a's 32 -> 128
    wide = layers["inception5a.branch3.1.0"]
    assert (wide.R, wide.S, wide.C, wide.K) == (5, 5, 32, 128)
    # the table's totals: 6.8 M parameters and "1.5 billion multiply-adds" (its conv1 row, 2.7 K
    # parameters and 34 M operations, is below that layer's own 7x7x3x64 shape, 9.4 K and 118 M)
    assert sum(la.weights for la in workload.layers) == pytest.approx(6.8e6, rel=0.03)
    assert workload.macs == pytest.approx(1.5e9 - 34e6 + 118e6, rel=0.01)
