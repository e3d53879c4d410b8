#!/usr/bin/env python3
"""Make the self-contained GPU bundle (lotr_train/bundle.py): the training and validation
faces as JPEG pre-crops, the converted ImageNet backbone, the code, the config and
train_gpu.sh, in one directory of at most 64 MiB. Prints its size.

  .venv/bin/python training/scripts/make_gpu_bundle.py            # from the repo root
      [--config training/configs/lotr-m-68.json] [--out training/runs/gpu-bundle]
      [--data DIR] [--split-file FILE] [--size 256] [--quality 85]
"""
import os
import sys

TRAINING = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TRAINING)

from lotr_train import bundle  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--config" not in argv:
        argv += ["--config", os.path.join(TRAINING, "configs", "lotr-m-68.json")]
    if "--out" not in argv:
        argv += ["--out", os.path.join(TRAINING, "runs", "gpu-bundle")]
    bundle.main(argv)
