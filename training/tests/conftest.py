import os

import pytest
import torch

torch.set_num_threads(2)
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data", "300w-train"))
if not os.path.isdir(DATA):
    DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "300w-train"))


# Committed stand-ins, so the data tests run on a fresh clone (tests/fixtures/README.md):
# four 300-W faces with their images (Tests/Fixtures/vision), every training-set image
# name in file order, and the mean shape of the first 300 faces.
FIXTURES = os.path.join(HERE, "fixtures")
FACES = os.path.normpath(os.path.join(HERE, "..", "..", "Tests", "Fixtures", "vision"))


@pytest.fixture(scope="session")
def faces():
    """The four committed 300-W faces (images/ + landmarks.csv)."""
    from lotr_train import data as D
    return D.read_300w_csv(FACES)


@pytest.fixture(scope="session")
def train_names():
    with open(os.path.join(FIXTURES, "300w-train-names.txt")) as f:
        return [line.strip() for line in f if line.strip()]


@pytest.fixture(scope="session")
def mean_shape_300():
    import numpy as np
    return np.loadtxt(os.path.join(FIXTURES, "300w-mean-shape.csv"), delimiter=",", skiprows=1)


@pytest.fixture(scope="session")
def data_dir():
    if not os.path.isfile(os.path.join(DATA, "landmarks.csv")):
        pytest.skip("300-W training faces not available")
    return DATA


@pytest.fixture(scope="session")
def samples(data_dir):
    """The whole 300-W training set (skipped without ../shared): only to check that the
    committed fixtures still match it."""
    from lotr_train import data as D
    return D.read_300w_csv(data_dir)


PRETRAINED = os.path.join(os.path.dirname(DATA), "..", "pretrained")


@pytest.fixture(scope="session")
def mobilenet_tflite():
    path = os.path.normpath(os.path.join(PRETRAINED, "mobilenet_v2_1.0_224_ptq.tflite"))
    if not os.path.isfile(path):
        pytest.skip("pretrained MobileNetV2 (shared/pretrained) not available")
    pytest.importorskip("tflite")
    return path
