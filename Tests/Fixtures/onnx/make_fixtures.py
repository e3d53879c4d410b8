"""Small ONNX graphs for LOTRQuantizerTests (the ONNX -> .lotr importer), built node by
node with onnx.helper so that each exercises one mapping rule, plus ONNX Runtime's output
for a fixed input so the tests can check the imported graph numerically.

  .venv/bin/python Tests/Fixtures/onnx/make_fixtures.py     # from the repository root

Writes, next to this script, for each fixture NAME: NAME.onnx, NAME.input.bin (f32, NCHW,
the graph input) and NAME.expected.bin (f32, ONNX Runtime's output). Deterministic (fixed
seeds); needs numpy, onnx and onnxruntime (the training venv has them).
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17


def metadata(n: int, size: int) -> dict[str, str]:
    """The keys training/lotr_train/export.py writes (build_metadata)."""
    return {
        "model_name": "fixture",
        "landmark_count": str(n),
        "mirror_permutation": json.dumps(list(range(n))),
        "crop_rule": json.dumps({"side": "k * max(box_w, box_h)", "centre": "box centre", "k": 1.3}),
        "input_size": str(size),
        "mean": json.dumps([0.485, 0.456, 0.406]),
        "std": json.dumps([0.229, 0.224, 0.225]),
        "coordinate_convention": "corner: u = X / W",
        "landmark_scheme": f"fixture{n}",
        "training_data": "none (test fixture)",
        "licence": "MIT",
    }


class G:
    """A tiny graph builder: initializers from numpy, nodes by name."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def rand(self, name, *shape, scale=0.5):
        return self.const(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def node(self, op, name, inputs, **attrs):
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def save(self, fixture, size, n, last_output):
        self.nodes[-1].output[0] = "landmarks"
        for node in self.nodes:  # rename readers of the last output
            node.input[:] = ["landmarks" if i == last_output else i for i in node.input]
        graph = helper.make_graph(
            self.nodes, fixture,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [1, n, 2])],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_fixtures.py")
        model.ir_version = 8
        for k, v in metadata(n, size).items():
            e = model.metadata_props.add()
            e.key, e.value = k, v
        onnx.checker.check_model(model)
        path = os.path.join(HERE, fixture + ".onnx")
        onnx.save(model, path)
        x = np.random.default_rng(100).standard_normal((1, 3, size, size)).astype(np.float32)
        y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        assert y.shape == (1, n, 2), y.shape
        x.tofile(os.path.join(HERE, fixture + ".input.bin"))
        y.astype(np.float32).tofile(os.path.join(HERE, fixture + ".expected.bin"))
        print(f"{fixture}: {len(self.nodes)} nodes, output {y.shape}")


def tokens_head(g: G, x: str, channels: int, size: int, prefix: str = "head"):
    """NCHW [1, C, h, w] -> tokens [1, h*w, C] (PyTorch's flatten(2).transpose(1, 2))
    -> Linear to 2 -> [1, h*w, 2]."""
    t = g.node("Reshape", f"/{prefix}/Reshape", [x, g.const(f"{prefix}.shape", np.array([1, channels, -1], np.int64))])
    t = g.node("Transpose", f"/{prefix}/Transpose", [t], perm=[0, 2, 1])
    t = g.node("MatMul", f"/{prefix}/fc/MatMul", [t, g.rand(f"{prefix}.fc.w", channels, 2)])
    return g.node("Add", f"/{prefix}/fc/Add", [g.rand(f"{prefix}.fc.b", 2), t])


def conv_bn() -> None:
    """Conv -> BatchNormalization -> Clip(0, 6), a depthwise Conv -> BN -> Relu, a
    residual Add, ConvTranspose -> BN, then tokens and a Linear head."""
    g = G(1)
    x = g.node("Conv", "/stem/Conv", ["input", g.rand("stem.w", 8, 3, 3, 3), g.rand("stem.b", 8)],
               kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])

    def bn(name, t, c):
        return g.node("BatchNormalization", name, [t, g.rand(name + ".gamma", c), g.rand(name + ".beta", c),
                                                    g.rand(name + ".mean", c),
                                                    g.const(name + ".var", g.rng.uniform(0.5, 2.0, c).astype(np.float32))],
                      epsilon=1e-5)

    x = bn("/stem/BatchNormalization", x, 8)
    x = g.node("Clip", "/stem/Clip", [x, g.const("zero", np.array(0, np.float32)), g.const("six", np.array(6, np.float32))])
    y = g.node("Conv", "/dw/Conv", [x, g.rand("dw.w", 8, 1, 3, 3)], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8)
    y = bn("/dw/BatchNormalization", y, 8)
    y = g.node("Relu", "/dw/Relu", [y])
    x = g.node("Add", "/res/Add", [x, y])
    x = g.node("ConvTranspose", "/up/ConvTranspose", [x, g.rand("up.w", 8, 6, 4, 4, scale=0.2)], kernel_shape=[4, 4],
               strides=[2, 2], pads=[1, 1, 1, 1])
    x = bn("/up/BatchNormalization", x, 6)
    x = g.node("Conv", "/down/Conv", [x, g.rand("down.w", 4, 6, 3, 3), g.rand("down.b", 4)], kernel_shape=[3, 3],
               strides=[2, 2], pads=[0, 0, 1, 1])
    out = tokens_head(g, x, 4, 8)
    g.save("conv_bn", 16, 64, out)   # 16x16 -> 8x8 -> deconv 16x16 -> 8x8: 64 tokens


def layernorm_decomposed() -> None:
    """Tokens -> the pre-opset-17 LayerNorm decomposition -> Linear head."""
    g = G(2)
    x = g.node("Conv", "/proj/Conv", ["input", g.rand("proj.w", 8, 3, 2, 2), g.rand("proj.b", 8)],
               kernel_shape=[2, 2], strides=[2, 2])
    t = g.node("Reshape", "/tok/Reshape", [x, g.const("tok.shape", np.array([1, 8, 16], np.int64))])
    t = g.node("Transpose", "/tok/Transpose", [t], perm=[0, 2, 1])
    m = g.node("ReduceMean", "/ln/ReduceMean", [t], axes=[-1])
    d = g.node("Sub", "/ln/Sub", [t, m])
    p = g.node("Pow", "/ln/Pow", [d, g.const("ln.two", np.array(2, np.float32))])
    v = g.node("ReduceMean", "/ln/ReduceMean_1", [p], axes=[-1])
    e = g.node("Add", "/ln/Add", [v, g.const("ln.eps", np.array(1e-5, np.float32))])
    s = g.node("Sqrt", "/ln/Sqrt", [e])
    n = g.node("Div", "/ln/Div", [d, s])
    n = g.node("Mul", "/ln/Mul", [n, g.rand("ln.gamma", 8)])
    n = g.node("Add", "/ln/Add_1", [n, g.rand("ln.beta", 8)])
    n = g.node("MatMul", "/fc/MatMul", [n, g.rand("fc.w", 8, 2)])
    out = g.node("Add", "/fc/Add", [n, g.rand("fc.b", 2)])
    g.save("layernorm_decomposed", 8, 16, out)


def shape_folding() -> None:
    """The flatten written with shape arithmetic (Shape/Gather/Unsqueeze/Concat, as a
    dynamic-shape torch export writes it), then Sub of a constant, Relu (fused into the
    ADD), Sigmoid, and a Linear head."""
    g = G(4)
    x = g.node("Conv", "/proj/Conv", ["input", g.rand("proj.w", 4, 3, 3, 3), g.rand("proj.b", 4)],
               kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    shape = g.node("Shape", "/tok/Shape", [x])
    b = g.node("Gather", "/tok/Gather", [shape, g.const("tok.i0", np.array(0, np.int64))], axis=0)
    c = g.node("Gather", "/tok/Gather_1", [shape, g.const("tok.i1", np.array(1, np.int64))], axis=0)
    b = g.node("Unsqueeze", "/tok/Unsqueeze", [b, g.const("tok.ax0", np.array([0], np.int64))])
    c = g.node("Unsqueeze", "/tok/Unsqueeze_1", [c, g.const("tok.ax1", np.array([0], np.int64))])
    target = g.node("Concat", "/tok/Concat", [b, c, g.const("tok.minus1", np.array([-1], np.int64))], axis=0)
    t = g.node("Reshape", "/tok/Reshape", [x, target])
    t = g.node("Transpose", "/tok/Transpose", [t], perm=[0, 2, 1])
    t = g.node("Sub", "/centre/Sub", [t, g.rand("centre.c", 4)])
    t = g.node("Relu", "/centre/Relu", [t])
    t = g.node("Sigmoid", "/gate/Sigmoid", [t])
    t = g.node("MatMul", "/fc/MatMul", [t, g.rand("fc.w", 4, 2)])
    out = g.node("Add", "/fc/Add", [t, g.rand("fc.b", 2)])
    g.save("shape_folding", 8, 16, out)


def deconv_maxpool() -> None:
    """The lotr-r stem (Conv -> BN -> Relu -> MaxPool 3x3/2 pad 1), a ConvTranspose with a
    bias and asymmetric pads (3x3/2) -> Relu, a MaxPool with asymmetric pads, then tokens
    and a Linear head: DECONV2D and MAXPOOL through import and the executor."""
    g = G(5)
    x = g.node("Conv", "/stem/Conv", ["input", g.rand("stem.w", 8, 3, 3, 3)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = g.node("BatchNormalization", "/stem/BatchNormalization",
               [x, g.rand("bn.gamma", 8), g.rand("bn.beta", 8), g.rand("bn.mean", 8),
                g.const("bn.var", g.rng.uniform(0.5, 2.0, 8).astype(np.float32))], epsilon=1e-5)
    x = g.node("Relu", "/stem/Relu", [x])
    x = g.node("MaxPool", "/stem/MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])     # 16 -> 8
    x = g.node("ConvTranspose", "/up/ConvTranspose", [x, g.rand("up.w", 8, 6, 3, 3, scale=0.3), g.rand("up.b", 6)],
               kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0])                                      # 8 -> 16
    x = g.node("Relu", "/up/Relu", [x])
    x = g.node("MaxPool", "/pool/MaxPool", [x], kernel_shape=[3, 2], strides=[2, 2], pads=[0, 1, 1, 0])     # 16 -> 8
    out = tokens_head(g, x, 6, 8)
    g.save("deconv_maxpool", 16, 64, out)


def pad_residual() -> None:
    """BlazeFace's two uses of Pad: a stride-2 conv after an explicit bottom/right spatial
    pad (TensorFlow's SAME), and a residual whose shortcut is zero-padded in channels
    (8 -> 12) before the Add; then tokens and a Linear head."""
    g = G(6)
    x = g.node("Conv", "/stem/Conv", ["input", g.rand("stem.w", 8, 3, 3, 3), g.rand("stem.b", 8)],
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = g.node("Relu", "/stem/Relu", [x])                                                               # 8 x 16 x 16
    p = g.node("Pad", "/down/Pad", [x, g.const("down.pads", np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))])  # 17 x 17
    y = g.node("Conv", "/down/Conv", [p, g.rand("down.w", 12, 8, 3, 3, scale=0.3), g.rand("down.b", 12)],
               kernel_shape=[3, 3], strides=[2, 2])                                                     # 12 x 8 x 8
    s = g.node("MaxPool", "/skip/MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])                   # 8 x 8 x 8
    s = g.node("Pad", "/skip/Pad", [s, g.const("skip.pads", np.array([0, 0, 0, 0, 0, 4, 0, 0], np.int64)),
                                    g.const("skip.value", np.array(0, np.float32))])                    # 12 x 8 x 8
    x = g.node("Add", "/block/Add", [y, s])
    x = g.node("Relu", "/block/Relu", [x])
    out = tokens_head(g, x, 12, 8)
    g.save("pad_residual", 16, 64, out)


def unsupported() -> None:
    """An AveragePool (not in the .lotr op set) between a Conv and the head."""
    g = G(3)
    x = g.node("Conv", "/stem/Conv", ["input", g.rand("stem.w", 4, 3, 3, 3)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = g.node("AveragePool", "/stem/AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    out = tokens_head(g, x, 4, 4)
    g.save("unsupported", 8, 16, out)


def fallback_elementwise() -> None:
    """The importer's float fallback, one ONNX op at a time on tokens [1, 16, 8]: Neg,
    constant - x, x - y, Div by a constant, Pow 3, Tanh, x * y, then a batched MatMul of
    per-head views ([1, 2, 16, 4] x [1, 2, 4, 16], and back) with no Softmax, so no attention
    pattern applies: MUL, ADD, TANH and BATCH_MATMUL in the file."""
    g = G(7)
    x = g.node("Conv", "/stem/Conv", ["input", g.rand("stem.w", 8, 3, 3, 3), g.rand("stem.b", 8)],
               kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    t = g.node("Reshape", "/tok/Reshape", [x, g.const("tok.shape", np.array([1, 8, -1], np.int64))])
    t = g.node("Transpose", "/tok/Transpose", [t], perm=[0, 2, 1])
    a = g.node("Neg", "/Neg", [t])
    b = g.node("Sub", "/SubConst", [g.rand("c0", 8), t])
    c = g.node("Sub", "/Sub", [a, b])
    d = g.node("Div", "/Div", [c, g.const("half", np.array(0.5, np.float32))])
    e = g.node("Pow", "/Pow", [d, g.const("cube", np.array(3.0, np.float32))])
    f = g.node("Tanh", "/Tanh", [e])
    h = g.node("Mul", "/Mul", [f, t])
    h = g.node("Reshape", "/heads/Reshape", [h, g.const("heads.shape", np.array([1, 16, 2, 4], np.int64))])
    h = g.node("Transpose", "/heads/Transpose", [h], perm=[0, 2, 1, 3])
    k = g.node("Transpose", "/heads/TransposeK", [h], perm=[0, 1, 3, 2])
    s = g.node("MatMul", "/scores/MatMul", [h, k])
    y = g.node("MatMul", "/sum/MatMul", [s, h])
    y = g.node("Transpose", "/merge/Transpose", [y], perm=[0, 2, 1, 3])
    y = g.node("Reshape", "/merge/Reshape", [y, g.const("merge.shape", np.array([1, 16, 8], np.int64))])
    y = g.node("MatMul", "/head/MatMul", [y, g.rand("head.w", 8, 2)])
    y = g.node("Add", "/head/Add", [y, g.rand("head.b", 2)])
    g.save("fallback_elementwise", 8, 16, y)


if __name__ == "__main__":
    conv_bn()
    layernorm_decomposed()
    shape_folding()
    deconv_maxpool()
    pad_residual()
    unsupported()
    fallback_elementwise()
