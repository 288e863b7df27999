"""Aligned, uncompressed .npz files: written array by array, read back memory-mapped.

Every array's data starts on a 64-byte boundary (the zip entry's extra field pads it), so
`read_npz` can map it straight from the file; ``np.load`` still reads the file as usual.
No pickle is ever involved.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np

_ALIGN = 64


class NpzWriter:
    """An uncompressed .npz written array by array, each array's data 64-byte aligned.

    ``np.load`` reads the file as usual; `read_npz` memory-maps its arrays.
    """

    def __init__(self, path):
        self._raw = open(path, "wb")
        self._zip = zipfile.ZipFile(self._raw, "w", zipfile.ZIP_STORED, allowZip64=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._zip.close()
        self._raw.close()

    def add(self, name, value, dtype=None, shape=None):
        """Add an array, or an iterable of chunks making an array of *dtype* and *shape*."""
        if dtype is None:
            value = np.ascontiguousarray(value)
            dtype, shape, value = value.dtype, value.shape, [value]
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
            "shape": tuple(int(s) for s in shape)})
        header = buf.getvalue()
        info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        # local header: 30 bytes, the name, our padding block, then zip64's 20 bytes
        start = self._raw.tell() + 30 + len(info.filename.encode()) + 4 + 20 + len(header)
        pad = -start % _ALIGN
        info.extra = struct.pack("<HH", 0x7441, pad) + b"\0" * pad
        with self._zip.open(info, "w", force_zip64=True) as fh:
            fh.write(header)
            for chunk in value:
                fh.write(np.ascontiguousarray(chunk, dtype=dtype).data)


def read_npz(path, mmap=True):
    """Arrays of an .npz as a dict; memory-mapped where the data is stored aligned."""
    out = {}
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if mmap and info.compress_type == zipfile.ZIP_STORED:
                fh.seek(info.header_offset)
                name_len, extra_len = struct.unpack("<HH", fh.read(30)[26:30])
                fh.seek(info.header_offset + 30 + name_len + extra_len)
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(fh)
                offset = fh.tell()
                if not fortran and offset % _ALIGN == 0 and not dtype.hasobject:
                    out[name] = np.asarray(np.memmap(path, dtype=dtype, mode="r", offset=offset,
                                                     shape=shape)) \
                        if int(np.prod(shape)) else np.empty(shape, dtype)
                    continue
            with zf.open(info) as member:
                out[name] = np.lib.format.read_array(member, allow_pickle=False)
    return out
