"""Export a checkpoint to ONNX (opset 17) with metadata, and check it against PyTorch.

  python -m lotr_train.export --checkpoint runs/lotr-m-68/best.pt --out ../models/lotr-m-68.onnx

Graph: input "input" float32 1x3xHxW (NCHW, RGB, x/255 then (x - mean)/std with ImageNet
mean/std), output "landmarks" float32 1xNx2, (x, y) in [0,1] of the crop (corner
convention: u = X/W with pixel j spanning [j, j+1)). BatchNorm is folded into the convs
(eval mode), attention is plain MatMul/Softmax, LayerNorm is LayerNormalization.
metadata_props: see METADATA_KEYS in the README. The export fails if ONNX Runtime and
PyTorch differ by 1e-4 or more.
"""
from __future__ import annotations

import argparse
import collections
import json
import os

import numpy as np
import torch

from . import data as D
from .config import MEAN, STD
from .geometry import CROP_RULE
from .inference import load_checkpoint
from .macs import count_macs
from .model import LOTR

TOL = 1e-4


def export_model(model: LOTR, path: str, meta: dict[str, str], opset: int = 17,
                 check_inputs: list[torch.Tensor] | None = None) -> float:
    import onnx
    model = model.eval()
    size = model.cfg.input_size
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["input"],
                          output_names=["landmarks"], do_constant_folding=True, dynamo=False)
    m = onnx.load(path)
    _inline_identity_initializers(m)
    if fold_pads(m):
        while _fold_static_shapes(m):
            pass
    save_with_metadata(m, meta, path)
    return check_equal(model, path, [x] + list(check_inputs or []))


def save_with_metadata(m, meta: dict, path: str) -> None:
    """Replaces the ONNX model's metadata_props with `meta` (values as strings), stamps the
    producer, checks the model and writes it to `path`."""
    import onnx
    del m.metadata_props[:]
    for k, v in meta.items():
        e = m.metadata_props.add()
        e.key, e.value = k, str(v)
    m.producer_name = "lotr_train"
    onnx.checker.check_model(m)
    onnx.save(m, path)


def _inline_identity_initializers(m) -> None:
    """The exporter de-duplicates equal initializers and reads them through Identity nodes;
    give each consumer its own initializer instead so the graph has no Identity."""
    import onnx
    inits = {t.name: t for t in m.graph.initializer}
    keep = []
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[n.input[0]])
            t.name = n.output[0]
            m.graph.initializer.append(t)
        else:
            keep.append(n)
    del m.graph.node[:]
    m.graph.node.extend(keep)


def _constant_value(m, name):
    """A tensor computed from constants only (the legacy exporter builds a Pad's pads
    with ConstantOfShape/Concat/Slice(step -1), which its constant folding skips),
    evaluated with ONNX's reference evaluator; None if it depends on a graph input."""
    import onnx
    from onnx import numpy_helper
    inits = {t.name: t for t in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}
    if name in inits:
        return numpy_helper.to_array(inits[name])
    nodes, todo, seen = [], [name], set()
    while todo:
        t = todo.pop()
        if t in seen or t in inits or t == "":
            continue
        seen.add(t)
        if t not in producer:
            return None
        n = producer[t]
        nodes.append(n)
        todo.extend(n.input)
    from onnx.reference import ReferenceEvaluator
    order = [n for n in m.graph.node if n in nodes]
    used_inits = [inits[i] for n in order for i in n.input if i in inits]
    g = onnx.helper.make_graph(order, "const", [], [onnx.helper.make_tensor_value_info(name, 0, None)],
                               initializer=used_inits)
    return ReferenceEvaluator(onnx.helper.make_model(g, opset_imports=m.opset_import)).run(None, {})[0]


def _keep_live(m, keep) -> None:
    """Sets the graph's nodes to those of `keep` whose outputs still reach a graph output
    (in order), and its initializers to those they read."""
    outputs = {o.name for o in m.graph.output}
    while True:
        used = {i for n in keep for i in n.input} | outputs
        live = [n for n in keep if any(o in used for o in n.output)]
        if len(live) == len(keep):
            break
        keep = live
    del m.graph.node[:]
    m.graph.node.extend(keep)
    used = {i for n in keep for i in n.input}
    live = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(live)


def fold_pads(m) -> int:
    """Fold each zero-constant Pad that only pads H and W and feeds only Convs into those
    Convs' pads ([top, left, bottom, right]), so TF-SAME convolutions (model.SameConv2d)
    export as one Conv with asymmetric pads. Returns the number of Pads folded."""
    import onnx
    from onnx import numpy_helper
    inits = {t.name: t for t in m.graph.initializer}
    consts = {n.output[0]: n for n in m.graph.node if n.op_type == "Constant"}

    def value(name):
        return _constant_value(m, name)

    consumers = collections.defaultdict(list)
    for n in m.graph.node:
        for i in n.input:
            consumers[i].append(n)
    folded, drop = 0, set()
    for n in m.graph.node:
        if n.op_type != "Pad":
            continue
        mode = next((a.s for a in n.attribute if a.name == "mode"), b"constant")
        pads = value(n.input[1]) if len(n.input) > 1 else None
        cval = value(n.input[2]) if len(n.input) > 2 and n.input[2] else 0
        users = consumers[n.output[0]]
        if mode != b"constant" or pads is None or cval is None or float(np.asarray(cval).sum()) != 0.0:
            continue
        pads = [int(v) for v in pads]
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            continue
        if not users or any(u.op_type != "Conv" for u in users):
            continue
        for u in users:
            attr = next((a for a in u.attribute if a.name == "pads"), None)
            old = list(attr.ints) if attr is not None else [0, 0, 0, 0]
            new = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]]
            if attr is None:
                u.attribute.append(onnx.helper.make_attribute("pads", new))
            else:
                del attr.ints[:]
                attr.ints.extend(new)
            u.input[0] = n.input[0]
        drop.add(id(n))
        folded += 1
    _keep_live(m, [n for n in m.graph.node if id(n) not in drop])   # drop what only the folded Pads used
    return folded


def _fold_static_shapes(m) -> int:
    """Once the Pads are folded every shape is static again: replace Shape nodes by
    constants and give each Reshape its target shape as an initializer (what the
    exporter's own constant folding does when no Pad hides the shapes)."""
    import onnx
    from onnx import numpy_helper
    inferred = onnx.shape_inference.infer_shapes(m)
    dims = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        d = [x.dim_value if x.HasField("dim_value") else None for x in vi.type.tensor_type.shape.dim]
        if all(v is not None for v in d):
            dims[vi.name] = d
    nodes, replaced = [], 0
    for n in m.graph.node:
        if n.op_type == "Shape" and n.input[0] in dims and not n.attribute:
            replaced += 1
            nodes.append(onnx.helper.make_node("Constant", [], [n.output[0]], name=n.name,
                                               value=numpy_helper.from_array(np.array(dims[n.input[0]], np.int64))))
        else:
            nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    for n in m.graph.node:
        if n.op_type == "Reshape":
            shape = _constant_value(m, n.input[1])
            if shape is not None and n.input[1] not in {t.name for t in m.graph.initializer}:
                t = numpy_helper.from_array(np.asarray(shape, np.int64), n.output[0] + "_shape")
                m.graph.initializer.append(t)
                n.input[1] = t.name
    _keep_live(m, list(m.graph.node))
    return replaced


def check_equal(model: LOTR, path: str, inputs: list[torch.Tensor]) -> float:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(["landmarks"], {"input": x.numpy()})[0]
        assert got.shape == ref.shape, (got.shape, ref.shape)
        worst = max(worst, float(np.abs(got - ref).max()))
    if worst >= TOL:
        raise AssertionError(f"ONNX Runtime differs from PyTorch by {worst:.3g} (>= {TOL})")
    return worst


def build_metadata(model: LOTR, perm, crop_k, training_data, licence, extra=None) -> dict[str, str]:
    cfg = model.cfg
    n = cfg.num_landmarks
    macs = count_macs(model)
    meta = {
        "model_name": cfg.name,
        "landmark_count": n,
        "mirror_permutation": json.dumps(list(map(int, perm))),
        "crop_rule": json.dumps(dict(CROP_RULE, k=crop_k)),
        "input_size": cfg.input_size,
        "input_layout": "NCHW float32 1x3xHxW, RGB",
        "normalization": "x = (rgb / 255 - mean) / std per channel",
        "mean": json.dumps(list(MEAN)),
        "std": json.dumps(list(STD)),
        "output": "landmarks float32 1xNx2: (x, y) normalised to the crop, x right, y down",
        "coordinate_convention": "corner: u = X / W, pixel j spans [j, j+1) so its centre is "
                                 "(j + 0.5) / W; source = c + S * R(theta) @ (u - 0.5, v - 0.5)",
        "outer_eye_indices": json.dumps(list(D.OUTER_EYE.get(n, ()))),
        "architecture": json.dumps(cfg.to_dict()),
        "macs": macs["total"],
        "training_data": training_data,
        "licence": licence,
    }
    meta.update(extra or {})
    return {k: str(v) for k, v in meta.items()}


def op_histogram(path: str) -> dict[str, int]:
    import onnx
    m = onnx.load(path)
    return dict(collections.Counter(n.op_type for n in m.graph.node))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--training-data", default="unspecified")
    ap.add_argument("--licence", default="unspecified")
    a = ap.parse_args(argv)
    model, ck = load_checkpoint(a.checkpoint)
    extra = {"train_config": json.dumps(ck.get("train_config", {})),
             "checkpoint_epoch": ck.get("epoch", -1)}
    if ck.get("val"):
        extra["val_metrics_torch"] = json.dumps(ck["val"])
    meta = build_metadata(model, ck["mirror_perm"], ck["crop_k"], a.training_data, a.licence, extra)
    # check on real-looking inputs too: the data's mean face through the normaliser
    g = torch.Generator().manual_seed(1)
    size = model.cfg.input_size
    imgs = [D.normalize(torch.rand(1, 3, size, size, generator=g) * 255) for _ in range(2)]
    diff = export_model(model, a.out, meta, a.opset, imgs)
    print(json.dumps({"onnx": a.out, "max_abs_diff_vs_torch": diff, "ops": op_histogram(a.out),
                      "bytes": os.path.getsize(a.out)}, indent=1))


if __name__ == "__main__":
    main()
