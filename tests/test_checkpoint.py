"""Checkpoint files: round trip, format version, corruption, atomic writes."""

import json
import zipfile

import numpy as np
import pytest

from dla_explorer.core.errors import DlaError
from dla_explorer.sparsity import checkpoint, pruning

from .conftest import TINY_SHAPE


@pytest.fixture
def sparse(tiny_net):
    return pruning.prune(tiny_net, "random", 0.7, input_shape=TINY_SHAPE, name="tiny")


def test_round_trip_is_exact(sparse, tmp_path):
    path = checkpoint.save(sparse, tmp_path / "tiny.npz")
    loaded = checkpoint.load(path)
    assert loaded.workload == sparse.workload
    assert loaded.act_density == sparse.act_density
    assert loaded.recipe == sparse.recipe
    for name in sparse.masks:
        np.testing.assert_array_equal(loaded.masks[name], sparse.masks[name])
        np.testing.assert_array_equal(loaded.weights[name], sparse.weights[name])
    assert loaded.content_hash() == sparse.content_hash()


def test_missing_file(tmp_path):
    with pytest.raises(DlaError, match="checkpoint not found"):
        checkpoint.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_file(sparse, tmp_path, keep):
    path = checkpoint.save(sparse, tmp_path / "tiny.npz")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DlaError, match="corrupt or truncated"):
        checkpoint.load(path)


def test_garbage_and_foreign_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DlaError, match="corrupt or truncated"):
        checkpoint.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(DlaError, match="corrupt or truncated"):
        checkpoint.load(tmp_path / "other.npz")


def _rewrite_manifest(path, change):
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    manifest = json.loads(arrays["manifest"].tobytes())
    change(manifest)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_newer_format_is_refused(sparse, tmp_path):
    path = checkpoint.save(sparse, tmp_path / "tiny.npz")
    _rewrite_manifest(path, lambda m: m.update(format_version=checkpoint.FORMAT_VERSION + 1))
    with pytest.raises(DlaError, match="format version 2; .* upgrade dla-explorer"):
        checkpoint.load(path)


def test_flipped_weight_fails_the_checksum(sparse, tmp_path):
    path = checkpoint.save(sparse, tmp_path / "tiny.npz")
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["values0"] = arrays["values0"] + 1.0
    np.savez(path, **arrays)
    with pytest.raises(DlaError, match="checksum mismatch"):
        checkpoint.load(path)


def test_interrupted_save_keeps_the_old_file(sparse, tmp_path, monkeypatch):
    path = checkpoint.save(sparse, tmp_path / "tiny.npz")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(sparse, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.npz"]  # no temp file left behind
    assert zipfile.is_zipfile(path)
