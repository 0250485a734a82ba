"""A validation point's published clock holds; the fMAX fit only estimates unknown clocks."""

import math

import pytest

from dla_explorer.sim import config as hw
from dla_explorer.study import validation

POINTS = """
points:
  - id: {id}
    source: X
    set: validation
    device: arria10_gx1150
    arch: {{base: dla_a10, k_vec: 48, c_vec: 8, q_vec: 4, clock_mhz: 303, stream_buffer_kb: 2048}}
    memory: ddr4_2400_x2
    model: resnet8
    input_shape: [1, 3, 32, 32]
    published_clock: {published}
    published: {{fps: 1000}}
sources: {{X: a paper}}
"""


def test_published_clock_holds_and_unknown_clock_follows_the_fmax_fit(tmp_path):
    fps = {}
    for published in ("true", "false"):
        path = tmp_path / f"{published}.yaml"
        path.write_text(POINTS.format(id=f"p_{published}", published=published))
        point = validation.load_points(path).points[0]
        fps[published] = validation.simulate_point(point, tmp_path)["fps"]
    # 1,152 DSPs of 1,518 (fill 0.759): the Arria 10 fit gives 267 x (1 - 0.1135 ln 0.759) = 275.4 MHz
    fit = hw.load_device("arria10_gx1150").fmax
    assert fit is not None
    clock = fit.full_mhz * (1 - fit.fill_slope * math.log(1152 / 1518))
    assert clock < 303
    # every layer of this small network is compute-bound, so frames/s scale with the clock
    assert fps["true"] / fps["false"] == pytest.approx(303 / clock, rel=0.02)
