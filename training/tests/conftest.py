import os

import pytest
import torch

torch.set_num_threads(2)
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data", "300w-train"))
if not os.path.isdir(DATA):
    DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "300w-train"))


@pytest.fixture(scope="session")
def data_dir():
    if not os.path.isfile(os.path.join(DATA, "landmarks.csv")):
        pytest.skip("300-W training faces not available")
    return DATA


@pytest.fixture(scope="session")
def samples(data_dir):
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
