"""The zoo against published figures (papers' tables; torchvision's model cards)."""

import pytest
import torch

from dla_explorer.core.errors import UsageError
from dla_explorer.workload import extract
from dla_explorer.workload import zoo as models

# name: (compute layers, parameters, MACs at 224x224), from the papers / torchvision model cards:
# ResNet-50 25.557 M params, 4.09 GMACs (53 conv + fc); MobileNet v1 4.23 M, 569 M (27 conv + fc);
# MobileNet v2 3.505 M, 300 M (52 conv + fc).
PUBLISHED = {
    "resnet50": (54, 25.557e6, 4.1e9),
    "mobilenet_v1": (28, 4.23e6, 569e6),
    "mobilenet_v2": (53, 3.505e6, 300e6),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_zoo_matches_published_counts(name):
    layers, params, macs = PUBLISHED[name]
    model = models.get(name)
    workload = extract(model, name=name)
    assert len(workload) == layers
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(params, rel=0.005)
    assert workload.macs == pytest.approx(macs, rel=0.01)
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_resnet50_layer_shapes():
    frame = extract(models.get("resnet50")).to_frame().set_index("name")
    assert tuple(frame.loc["conv1", ["C", "K", "R", "P"]]) == (3, 64, 7, 112)
    assert tuple(frame.loc["layer2.0.conv2", ["C", "K", "stride", "P"]]) == (128, 128, 2, 28)
    assert tuple(frame.loc["layer4.0.downsample.0", ["C", "K", "P"]]) == (1024, 2048, 7)
    assert tuple(frame.loc["fc", ["kind", "C", "K"]]) == ("linear", 2048, 1000)


def test_mobilenets_have_depthwise_layers():
    for name, count in (("mobilenet_v1", 13), ("mobilenet_v2", 17)):
        frame = extract(models.get(name)).to_frame()
        assert (frame["kind"] == "depthwise").sum() == count


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UsageError, match="unknown model 'resnet51'.*resnet50"):
        models.get("resnet51")
