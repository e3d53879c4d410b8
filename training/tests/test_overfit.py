import numpy as np
import torch

from lotr_train import data as D
from lotr_train.config import preset
from lotr_train.losses import LandmarkLoss
from lotr_train.model import build_model


def test_overfit_small_batch(faces):
    torch.manual_seed(0)
    ds = D.CachedSet(faces)
    x, t = D.make_batch(ds, list(range(len(faces))), 64, 1.3, D.MIRROR_PERMS[68], None)
    m = build_model(preset("lotr-tiny", num_landmarks=68))   # anchors at 0.5: start far off
    crit = LandmarkLoss("smooth_wing", 100)
    opt = torch.optim.AdamW(m.parameters(), 2e-3, weight_decay=0)
    first = None
    for i in range(400):
        loss = crit(m(x), t)
        if first is None:
            first = loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        final = crit(m(x), t).item()
    assert final < first / 10, (first, final)
