#!/usr/bin/env python3
"""add_output.py — make an intermediate tensor of an ONNX model a graph output.

    python3 add_output.py in.onnx out.onnx TENSOR_NAME 1x2048x1x1

Appends a float32 ValueInfoProto (with the given shape) to graph.output so
that ONNX Runtime (run_ort.js ... TENSOR_NAME) can return it. Plain protobuf
wire editing, no onnx package needed. Used to produce
tests/data/light_resnet50_pool_ort.bin:

    python3 add_output.py light_resnet50.onnx /tmp/m.onnx r172 1x2048x1x1
    node run_ort.js /tmp/m.onnx in.bin 1x3x224x224 light_resnet50_pool_ort.bin r172

with in.bin = float32(i / n), i < n = 3*224*224 (onnx's generate_dummy_data).
"""
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    """Yields (field, wire type, raw bytes of the whole field)."""
    i = 0
    while i < len(b):
        start = i
        tag, i = read_varint(b, i)
        wt = tag & 7
        if wt == 0:
            _, i = read_varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = read_varint(b, i)
            payload = b[i:i + n]
            i += n
            yield tag >> 3, wt, b[start:i], payload
            continue
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield tag >> 3, wt, b[start:i], None


def ld(field, data):
    return varint((field << 3) | 2) + varint(len(data)) + data


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, dst, name, shape = sys.argv[1:]
    dims = [int(x) for x in shape.split("x")]
    model = open(src, "rb").read()
    out = bytearray()
    for f, wt, raw, payload in fields(model):
        if f != 7:
            out += raw
            continue
        shp = b"".join(ld(1, varint(1 << 3) + varint(d)) for d in dims)
        tensor_type = varint(1 << 3) + varint(1) + ld(2, shp)  # elem_type FLOAT, shape
        vi = ld(1, name.encode()) + ld(2, ld(1, tensor_type))
        out += ld(7, bytes(payload) + ld(12, vi))
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
