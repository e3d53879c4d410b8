"""The bring-your-own-model fixtures (Tests/Fixtures/byo, imported by the Swift tests'
BYOModelTests) are what their generator's torch modules compute: each committed
NAME.expected.bin (ONNX Runtime on the exported graph) equals the module's own output on
the same input, and the manifest lists exactly the generator's fixtures. A change to a
module without regenerating the files fails here."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch

BYO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "byo"))


def generator():
    spec = importlib.util.spec_from_file_location("make_byo_fixtures", os.path.join(BYO, "make_byo_fixtures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = generator()


def test_manifest_lists_every_fixture():
    with open(os.path.join(BYO, "manifest.json")) as f:
        manifest = json.load(f)
    assert set(manifest) == set(GEN.FIXTURES)
    for name, entry in manifest.items():
        family, depth, n, size, exporter, opset, _ = GEN.FIXTURES[name]
        assert (entry["family"], entry["landmarks"], entry["exporter"], entry["opset"]) == (family, n, exporter, opset)
        assert os.path.exists(os.path.join(BYO, name + ".onnx"))


@pytest.mark.parametrize("name", sorted(GEN.FIXTURES))
def test_committed_outputs_are_the_modules(name):
    model, x = GEN.build(name)
    with torch.no_grad():
        y = model(x).numpy()
    expected = np.fromfile(os.path.join(BYO, name + ".expected.bin"), dtype=np.float32).reshape(y.shape)
    assert np.abs(y - expected).max() < 1e-5
