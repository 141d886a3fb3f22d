#!/usr/bin/env python3
"""Reads (and updates) a ctypes RawArray of Record made by Go, through
Python's own ctypes.Structure over the segment file: the proof that the Go
layout is the C layout.

Usage: layout_reader.py PATH

PATH is the segment file (/dev/shm/mproc.NAME). The script maps it, checks
the object header (element size and count), reads every Record, negates
each score in place, and prints one line of JSON:

    {"sizeof": 48, "offsets": {...}, "elem_size": 48, "count": 3,
     "records": [{"flag": ..., "id": ..., "tags": [...], "ok": ...,
                  "f": ..., "g": ..., "score": ...}, ...]}
"""

import ctypes
import json
import mmap
import struct
import sys

SEGMENT_HEADER = 128  # shm's segment header
OBJECT_HEADER = 384   # ctypes' object header; the elements follow


class Inner(ctypes.Structure):
    _fields_ = [("f", ctypes.c_float), ("g", ctypes.c_int32)]


class Record(ctypes.Structure):
    _fields_ = [
        ("flag", ctypes.c_int8),
        ("id", ctypes.c_int64),
        ("tags", ctypes.c_uint16 * 3),
        ("ok", ctypes.c_bool),
        ("inner", Inner),
        ("score", ctypes.c_double),
    ]


def main(path):
    with open(path, "r+b") as f:
        mm = mmap.mmap(f.fileno(), 0)
    payload = SEGMENT_HEADER
    elem_size, = struct.unpack_from("<Q", mm, payload + 0)
    count, = struct.unpack_from("<Q", mm, payload + 24)
    if elem_size != ctypes.sizeof(Record):
        raise SystemExit("element size %d, ctypes says %d" % (elem_size, ctypes.sizeof(Record)))
    recs = (Record * count).from_buffer(mm, payload + OBJECT_HEADER)
    out = []
    for r in recs:
        out.append({"flag": r.flag, "id": r.id, "tags": list(r.tags), "ok": r.ok,
                    "f": r.inner.f, "g": r.inner.g, "score": r.score})
        r.score = -r.score
    offsets = {name: getattr(Record, name).offset for name, _ in Record._fields_}
    print(json.dumps({"sizeof": ctypes.sizeof(Record), "offsets": offsets,
                      "elem_size": elem_size, "count": count, "records": out}))


if __name__ == "__main__":
    main(sys.argv[1])
