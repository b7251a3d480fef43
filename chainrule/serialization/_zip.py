"""The zip container of PyTorch's checkpoint format: an uncompressed ("stored") archive, written and read here.

``torch.save`` writes ``NAME/data.pkl``, ``NAME/data/0``, ``NAME/data/1``... into one zip file whose
records start at 64-byte boundaries (padding goes into an extra field of each local header, id ``FB``, as
PyTorch's writer does), so a record can be memory-mapped and viewed as an array in place.

The reader trusts nothing in the file. Before any record is read it checks, against the file's size: the
end-of-central-directory record (and its zip64 form), every central directory entry, and every local
header; records must be stored (not compressed -- a checkpoint never is, and so a zip bomb cannot
inflate), must lie inside the file, and may not overlap one another. Each record's CRC-32 is checked
when it is read (not when it is mapped: that would read every page).
"""
import struct
import zlib

from .errors import CheckpointError

_LOCAL = struct.Struct("<IHHHHHIIIHH")            # signature ... name length, extra length
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")    # signature ... local header offset
_EOCD = struct.Struct("<IHHHHIIH")
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_LOCAL_SIG, _CENTRAL_SIG, _EOCD_SIG = 0x04034B50, 0x02014B50, 0x06054B50
_ZIP64_EOCD_SIG, _ZIP64_LOCATOR_SIG = 0x06064B50, 0x07064B50
_ZIP64_EXTRA, _PAD_EXTRA = 0x0001, 0x4246        # the zip64 sizes field; PyTorch's alignment padding ("FB")
_MAX_COMMENT = 0xFFFF
ALIGNMENT = 64
ZIP64_LIMIT = 0xFFFFFFFF   # sizes and offsets from here on need the zip64 fields (tests lower it)
_DOS_DATE = (1980 - 1980) << 9 | 1 << 5 | 1      # 1980-01-01, the earliest date zip can say


# -- writing ------------------------------------------------------------------------------------------


class ZipWriter:
    """Writes stored records one after another to a binary stream (no seeking: a pipe will do)."""

    def __init__(self, out):
        self.out = out
        self.pos = 0
        self.entries = []   # (name, crc, size, local header offset)

    def _write(self, data):
        self.out.write(data)
        self.pos += len(data) if isinstance(data, bytes) else memoryview(data).nbytes

    def write_record(self, name, data):
        """``data``: bytes or a C-contiguous uint8 NumPy array (written from its memory, not copied)."""
        raw = name.encode("utf-8")
        size = len(data) if isinstance(data, bytes) else data.nbytes
        crc = zlib.crc32(data) & 0xFFFFFFFF
        big = size >= ZIP64_LIMIT
        extra = struct.pack("<HHQQ", _ZIP64_EXTRA, 16, size, size) if big else b""
        unpadded = self.pos + _LOCAL.size + len(raw) + len(extra) + 4
        pad = -unpadded % ALIGNMENT
        extra += struct.pack("<HH", _PAD_EXTRA, pad) + b"Z" * pad
        field = 0xFFFFFFFF if big else size
        self.entries.append((raw, crc, size, self.pos))
        self._write(_LOCAL.pack(_LOCAL_SIG, 45 if big else 20, 0x0800, 0, 0, _DOS_DATE, crc, field, field,
                                len(raw), len(extra)) + raw + extra)
        if size:
            self._write(data)

    def finish(self):
        """The central directory and the end records (zip64 ones when the archive needs them)."""
        start = self.pos
        for raw, crc, size, offset in self.entries:
            fields = [v for v in (size, size, offset) if v >= ZIP64_LIMIT]
            extra = struct.pack(f"<HH{len(fields)}Q", _ZIP64_EXTRA, 8 * len(fields), *fields) if fields else b""
            self._write(_CENTRAL.pack(
                _CENTRAL_SIG, 45, 45 if fields else 20, 0x0800, 0, 0, _DOS_DATE, crc,
                min(size, ZIP64_LIMIT), min(size, ZIP64_LIMIT), len(raw), len(extra), 0, 0, 0, 0,
                min(offset, ZIP64_LIMIT)) + raw + extra)
        size, count = self.pos - start, len(self.entries)
        if count >= 0xFFFF or size >= ZIP64_LIMIT or start >= ZIP64_LIMIT:
            zip64_at = self.pos
            self._write(_ZIP64_EOCD.pack(_ZIP64_EOCD_SIG, _ZIP64_EOCD.size - 12, 45, 45, 0, 0, count, count,
                                         size, start))
            self._write(_ZIP64_LOCATOR.pack(_ZIP64_LOCATOR_SIG, 0, zip64_at, 1))
        self._write(_EOCD.pack(_EOCD_SIG, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                               min(size, ZIP64_LIMIT), min(start, ZIP64_LIMIT), 0))


# -- reading ------------------------------------------------------------------------------------------


class ZipArchive:
    """The records of a stored zip archive, each checked to lie in the file, apart from every other."""

    def __init__(self, source, who="chainrule.load"):
        self.source = source
        self.who = who
        self.records = {}    # full name -> (data offset, size, crc)
        central_start, central_size, count = self._end_records()
        self._central_directory(central_start, central_size, count)

    def corrupted(self, what):
        return CheckpointError(f"{self.who}: {self.source.name} is not a readable zip archive ({what}); the file "
                               "is truncated or corrupted, or was not written by torch.save / chainrule.save")

    def _end_records(self):
        size = self.source.size
        if size < _EOCD.size:
            raise self.corrupted("too short to hold a zip directory")
        tail_start = max(0, size - _EOCD.size - _MAX_COMMENT)
        tail = self.source.read(tail_start, size - tail_start, "the end of the archive")
        at = len(tail) - _EOCD.size
        while True:
            at = tail.rfind(b"PK\x05\x06", 0, at + 4)
            if at < 0:
                raise self.corrupted("no end-of-directory record: the end of the file is missing")
            sig, disk, cd_disk, _, count, cd_size, cd_start, comment = _EOCD.unpack_from(tail, at)
            if at + _EOCD.size + comment == len(tail):
                break
            at -= 1
        eocd_at = tail_start + at
        if disk or cd_disk:
            raise self.corrupted("a multi-disk archive")
        limit = eocd_at
        locator_at = eocd_at - _ZIP64_LOCATOR.size
        if locator_at >= 0:
            locator = self.source.read(locator_at, _ZIP64_LOCATOR.size, "the zip64 locator")
            sig, _, zip64_at, _ = _ZIP64_LOCATOR.unpack(locator)
            if sig == _ZIP64_LOCATOR_SIG:
                if zip64_at + _ZIP64_EOCD.size > locator_at:
                    raise self.corrupted("the zip64 directory record lies outside the file")
                record = self.source.read(zip64_at, _ZIP64_EOCD.size, "the zip64 directory record")
                sig, _, _, _, disk, cd_disk, _, count, cd_size, cd_start = _ZIP64_EOCD.unpack(record)
                if sig != _ZIP64_EOCD_SIG or disk or cd_disk:
                    raise self.corrupted("a damaged zip64 directory record")
                limit = zip64_at
        if cd_start + cd_size > limit:
            raise self.corrupted("the directory lies outside the file")
        if count * _CENTRAL.size > cd_size:
            raise self.corrupted(f"{count} entries cannot fit in a directory of {cd_size} bytes")
        return cd_start, cd_size, count

    def _central_directory(self, start, size, count):
        data = self.source.read(start, size, "the zip directory")
        entries, pos = [], 0
        for _ in range(count):
            if pos + _CENTRAL.size > size:
                raise self.corrupted("the directory ends in the middle of an entry")
            (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len, _, _, _,
             offset) = _CENTRAL.unpack_from(data, pos)
            end = pos + _CENTRAL.size + name_len + extra_len + comment_len
            if sig != _CENTRAL_SIG or end > size:
                raise self.corrupted("a damaged directory entry")
            raw = data[pos + _CENTRAL.size:pos + _CENTRAL.size + name_len]
            name = raw.decode("utf-8" if flags & 0x0800 else "cp437", "replace")
            extra = data[pos + _CENTRAL.size + name_len:pos + _CENTRAL.size + name_len + extra_len]
            usize, csize, offset = _zip64_fields(extra, usize, csize, offset, self.corrupted)
            if flags & 0x1:
                raise self.corrupted(f"record {name} is encrypted")
            if method != 0 or csize != usize:
                raise self.corrupted(f"record {name} is compressed (method {method}); checkpoints store records "
                                     "uncompressed, and chainrule does not inflate them")
            if name in self.records:
                raise self.corrupted(f"record {name} appears twice")
            entries.append((offset, name, usize, crc))
            self.records[name] = None
            pos = end
        for offset, name, usize, crc in entries:
            data_at = self._local_header(offset, name, start)
            if data_at + usize > start:
                raise self.corrupted(f"record {name} runs into the directory")
            self.records[name] = (data_at, usize, crc)
        spans = sorted((offset, self.records[name][0] + self.records[name][1], name) for offset, name, _, _ in entries)
        for (_, end, first), (begin, _, second) in zip(spans, spans[1:]):
            if begin < end:
                raise self.corrupted(f"records {first} and {second} overlap")

    def _local_header(self, offset, name, directory_start):
        if offset + _LOCAL.size > directory_start:
            raise self.corrupted(f"the header of record {name} lies outside the file")
        header = self.source.read(offset, _LOCAL.size, f"the header of record {name}")
        sig, _, _, _, _, _, _, _, _, name_len, extra_len = _LOCAL.unpack(header)
        if sig != _LOCAL_SIG:
            raise self.corrupted(f"the header of record {name} is damaged")
        return offset + _LOCAL.size + name_len + extra_len

    # -- access -------------------------------------------------------------------------------------
    def has(self, name):
        return name in self.records

    def size(self, name):
        return self.records[name][1]

    def read(self, name):
        """The record's bytes, CRC-checked."""
        at, size, crc = self.records[name]
        data = self.source.read(at, size, f"record {name}")
        self._check_crc(name, data, crc)
        return data

    def read_array(self, name):
        """The record's bytes in a fresh writable uint8 array, CRC-checked."""
        at, size, crc = self.records[name]
        array = self.source.read_array(at, size, f"record {name}")
        self._check_crc(name, array, crc)
        return array

    def offset(self, name):
        return self.records[name][0]

    def _check_crc(self, name, data, crc):
        if zlib.crc32(data) & 0xFFFFFFFF != crc:
            raise CheckpointError(f"{self.who}: {self.source.name} is corrupted (record {name} fails its CRC-32 "
                                  "check)")


def _zip64_fields(extra, usize, csize, offset, corrupted):
    """Replace the 0xFFFFFFFF placeholders by the zip64 extra field's 8-byte values, in zip's order."""
    wanted = [usize == 0xFFFFFFFF, csize == 0xFFFFFFFF, offset == 0xFFFFFFFF]
    if not any(wanted):
        return usize, csize, offset
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == _ZIP64_EXTRA:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4)) if pos + 4 + length <= len(extra) \
                else []
            out = [usize, csize, offset]
            for i, need in enumerate(wanted):
                if need:
                    if not values:
                        raise corrupted("a zip64 field is missing")
                    out[i] = values.pop(0)
            return tuple(out)
        pos += 4 + length
    raise corrupted("a zip64 field is missing")
