"""Hardware configs: shipped files load, bad YAML is refused with the file, key and rule."""

from pathlib import Path

import pytest

from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.sim import config as hw
from dla_explorer.sim.resources import resources, usage

CONFIGS = Path(hw.CONFIG_ROOT)


@pytest.mark.parametrize(
    "folder, loader",
    [
        ("devices", hw.load_device),
        ("arch", hw.load_architecture),
        ("memory", hw.load_memory),
        ("baselines", hw.load_baseline),
    ],
)
def test_every_shipped_config_loads(folder, loader):
    files = sorted((CONFIGS / folder).glob("*.yaml"))
    assert files
    for path in files:
        loader(path)


def test_memory_bandwidths_match_the_public_figures():
    assert hw.load_memory("ddr4_2400_x1").peak_gbps == pytest.approx(19.2)
    assert hw.load_memory("ddr4_2666_x1").peak_gbps == pytest.approx(21.328)
    assert hw.load_memory("hbm2_x1").peak_gbps == pytest.approx(256.0)  # 16 x 16 GB/s
    assert hw.load_memory("hbm2_x2").peak_gbps == pytest.approx(512.0)
    assert hw.load_memory("ddr4_2666_x2").effective_gbps == pytest.approx(2 * 21.328 * 0.8)


def test_stratix10_mx_facts():
    device = hw.load_device("stratix10_mx2100")
    assert (device.dsp_blocks, device.hbm2_pseudo_channels, device.ddr4_max_rate_mtps) == (3960, 32, 2666)


def write(tmp_path, folder, name, text):
    path = tmp_path / f"{name}.yaml"
    base = (CONFIGS / folder / f"{name}.yaml").read_text()
    path.write_text(base + text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("k_vec: 0\n", "key 'k_vec': Input should be greater than 0 (got 0)"),
        ("c_vec: -4\n", "key 'c_vec': Input should be greater than 0"),
        ("stream_buffer_kb: 0\n", "key 'stream_buffer_kb'"),
        ("precision: int4\n", "key 'precision'"),
        ("kvec: 32\n", "key 'kvec': unknown key"),
        ("gamma: -1\n", "key 'gamma'"),
    ],
)
def test_bad_architecture_files(tmp_path, text, message):
    path = write(tmp_path, "arch", "dla_s10mx", text)
    with pytest.raises(UsageError) as err:
        hw.load_architecture(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("channels: 0\n", "key 'channels': Input should be greater than 0"),
        ("kind: gddr6\n", "key 'kind'"),
        ("controller_efficiency: 1.5\n", "key 'controller_efficiency'"),
        ("bandwith: 3\n", "key 'bandwith': unknown key"),
    ],
)
def test_bad_memory_files(tmp_path, text, message):
    path = write(tmp_path, "memory", "ddr4_2666_x1", text)
    with pytest.raises(UsageError, match=message):
        hw.load_memory(path)


def test_bad_device_file_and_missing_files(tmp_path):
    path = write(tmp_path, "devices", "stratix10_mx2100", "dsp_blocks: -1\n")
    with pytest.raises(UsageError, match="key 'dsp_blocks'"):
        hw.load_device(path)
    with pytest.raises(UsageError, match="devices config 'virtex7' not found.*stratix10_mx2100"):
        hw.load_device("virtex7")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML at line"):
        hw.load_memory(tmp_path / "broken.yaml")
    with pytest.raises(UsageError, match="expected a mapping"):
        (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
        hw.load_memory(tmp_path / "list.yaml")
    with pytest.raises(DlaError):
        hw.load_memory(str(tmp_path / "absent.yaml"))


def test_device_compatibility_checks():
    arch = hw.load_architecture("dla_s10mx")
    s10, a10 = hw.load_device("stratix10_mx2100"), hw.load_device("arria10_gx1150")
    assert hw.compatibility_errors(arch, hw.load_memory("hbm2_x2"), s10) == []
    with pytest.raises(UsageError, match="clock_mhz': 450 MHz is above Arria 10 GX 1150's maximum of 400"):
        hw.check_compatible(arch.model_copy(update={"clock_mhz": 450}), hw.load_memory("ddr4_2400_x1"), a10)
    errors = hw.compatibility_errors(hw.load_architecture("dla_a10"), hw.load_memory("hbm2_x1"), a10)
    assert errors == ["key 'channels': 16 HBM2 pseudo-channels, Arria 10 GX 1150 has 0"]
    errors = hw.compatibility_errors(arch, hw.load_memory("ddr4_2666_x1"), a10)
    assert any("DDR4-2666 is above Arria 10 GX 1150's DDR4-2400" in e for e in errors)
    int8_only = s10.model_copy(update={"multipliers_per_dsp": {"int8": 2}})
    with pytest.raises(UsageError, match="has no fp16 multipliers"):
        hw.check_compatible(
            arch.model_copy(update={"precision": "fp16"}), hw.load_memory("hbm2_x1"), int8_only
        )


def test_resources_hand_computed_and_overshoot_reported():
    device = hw.load_device("stratix10_mx2100")
    arch = hw.load_architecture("dla_s10mx")  # 64 x 16 x 7 x 1 = 7,168 int8 multipliers
    report = resources(arch, device)
    assert report.used["dsp"] == 7168 / 2
    # stream buffer: 4096 KB = 33,554,432 bits / 20,480 = 1,638.4 -> 1,639 blocks (width 7,168 bits
    # needs only 180); filter caches: 8 KB / 20 Kbit -> 4 blocks by capacity, but each reads
    # 16 x (8 + 3 select bits) = 176 bits a cycle -> 5 blocks of 40 bits; x 64 PEs
    assert report.used["m20k"] == 1639 + 64 * 5
    assert report.used["alm"] == pytest.approx(80000 + 25 * 7168 + 7168 * 8 * 7 * 0.167)
    assert report.feasible and report.violations == []
    big = resources(arch.model_copy(update={"q_vec": 8}), device)  # 8,192 mults = 4,096 DSPs
    assert not big.feasible
    assert big.violations == ["dsp: needs 4,096 of 3,960 (+3.4%)"]
    fp16 = resources(arch.model_copy(update={"precision": "fp16"}), device)
    # the DLA's FP16 is INT12 block floating point: one 12x12 mantissa product per 18x19 half
    assert fp16.used["dsp"] == 7168 / 2


def test_m20k_counts_where_the_read_width_decides():
    """Buffers small enough that the read port, not the capacity, sets the M20K count (the case
    above is capacity-bound); every figure from the 40-bit widest M20K port."""
    device = hw.load_device("stratix10_mx2100")
    common = dict(
        k_vec=1, c_vec=10, q_vec=1, lanes=1, mantissa_bits=12, feature_bits=16, exponent_bits=5,
        alpha=1, stream_buffer_kb=1, filter_cache_kb=1, dsp_per_multiplier=0.5,
    )  # fmt: skip
    used = usage(device, **common)
    # a PE reads 10 mantissas of 12 bits + one 5-bit block exponent = 125 bits: ceil(125 / 40) = 4
    # blocks (without the exponent 120 bits would fit 3)
    assert used["m20k_filters"] == 4
    # the feeder: 10 channels x 1 pixel x 16 bits = 160 bits = 4 blocks
    assert used["m20k_stream"] == 4
    # input packing gathers up to alpha = 4 channels per column: 4 x wider, 640 bits = 16 blocks;
    # the 2-bit selects widen each scratchpad read to 10 x (12 + 2) + 5 = 145 bits = 4 blocks
    packed = usage(device, **{**common, "alpha": 4})
    assert packed["m20k_stream"] == 16 and packed["m20k_filters"] == 4
    # 8 filters' PEs: 8 x 4 blocks; 2 lanes x 7 pixels: 10 x 14 x 16 = 2,240 bits = 56 blocks
    wide = usage(device, **{**common, "k_vec": 8, "q_vec": 7, "lanes": 2})
    assert wide["m20k_filters"] == 32 and wide["m20k_stream"] == 56
    assert wide["m20k"] == 32 + 56


def test_reference_design_cites_a_source_for_every_parameter():
    path = hw.CONFIG_ROOT / "arch" / "dla_s10mx_reference.yaml"
    arch = hw.load_architecture(path)
    keys = [line for line in path.read_text().splitlines() if line and not line.startswith((" ", "#"))]
    assert {line.split(":")[0] for line in keys} == set(hw.Architecture.model_fields)
    # every parameter is set explicitly, with its source beside it (or on the line it shares a
    # source with: the crossbar widths)
    uncommented = [line for line in keys if "#" not in line]
    assert uncommented == ["activation_vec: 64"]
    assert (arch.precision, arch.compress_activations) == ("bfp11", False)
    # its memories: one DDR4 interface through the DLA's 512-bit port, HBM2 256-bit AXI ports
    assert hw.load_memory("ddr4_2666_x1").port_width_bits == 512
    assert hw.load_memory("hbm2_x2").port_width_bits == 256


def test_memory_placement_and_esram_compatibility():
    s10, a10 = hw.load_device("stratix10_mx2100"), hw.load_device("arria10_gx1150")
    arch = hw.load_architecture("dla_s10mx")
    hbm = hw.load_memory("hbm2_x1")
    with pytest.raises(UsageError, match="16 of 16 channels for the weights leaves none"):
        hw.check_compatible(arch, hbm.model_copy(update={"weight_channels": 16}), s10)
    hw.check_compatible(arch, hbm.model_copy(update={"weight_channels": 4}), s10)
    esram = arch.model_copy(update={"stream_buffer_esram_kb": 1024, "clock_mhz": 300})
    hw.check_compatible(esram, hbm, s10)
    with pytest.raises(UsageError, match="Arria 10 GX 1150 has no eSRAM"):
        hw.check_compatible(esram, hw.load_memory("ddr4_2400_x1"), a10)


def test_a_memory_naming_a_missing_dram_device_is_refused_at_load(tmp_path):
    """It failed only when fidelity 1 first needed the device (naming neither file nor key) and
    fidelity 0 took the misspelt name silently."""
    text = (hw.CONFIG_ROOT / "memory" / "hbm2_x2.yaml").read_text()
    path = tmp_path / "m.yaml"
    path.write_text(text.replace("dram: hbm2_s10mx_pc", "dram: hbm2_s10mx_pcx"))
    with pytest.raises(UsageError, match=f"^{path}: key 'dram': dram config 'hbm2_s10mx_pcx' not found"):
        hw.load_memory(path)
    dram = tmp_path / "my_dram.yaml"  # a path works as the name does
    dram.write_text((hw.CONFIG_ROOT / "dram" / "hbm2_s10mx_pc.yaml").read_text())
    path.write_text(text.replace("dram: hbm2_s10mx_pc", f"dram: {dram}"))
    assert hw.load_memory(path).dram == str(dram)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("data_rate_mtps: 2666", "data_rate_mtps: 2400", "runs at 2667 MT/s .*data_rate_mtps is 2400"),
        ("bus_width_bits: 64", "bus_width_bits: 72", "has 64-bit channels, bus_width_bits is 72"),
    ],
)
def test_a_memory_must_describe_its_dram_device(tmp_path, old, new, message):
    """Fidelity 0 and 1 take the peak from the memory's data rate and width, fidelity 2 replays
    the DRAM device's timings: a DDR4-2400 memory naming a DDR4-2666 device simulated at 19.2 GB/s
    peak at levels 0 and 1 and at 21.3 at level 2, with no error."""
    text = (hw.CONFIG_ROOT / "memory" / "ddr4_2666_x1.yaml").read_text()
    assert old in text
    path = tmp_path / "m.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(UsageError, match=f"^{path}: key 'dram': device 'ddr4_2666_8gb_x8_1rank' {message}"):
        hw.load_memory(path)
    path.write_text(text.replace(old, new).replace("dram: ddr4_2666_8gb_x8_1rank", "dram: ''"))
    assert hw.load_memory(path).dram == ""  # no device, nothing to agree with
    # the device's rate is 2 / tCK = 2,666.67 MT/s: the shipped 2666 rounds it and is accepted
    assert hw.load_memory("ddr4_2666_x1").data_rate_mtps == 2666
