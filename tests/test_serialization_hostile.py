"""Broken and hostile checkpoints: refused fast, within bounded memory, with errors naming the file -- and
nothing in them ever runs unless the caller says ``weights_only=False``.

Each malicious pickle here would create a marker file if it ran; the tests check that it does when
``weights_only=False`` (so the payload is real) and that it does not under every other option.
"""
import contextlib
import io
import os
import pickle
import signal
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import pytest

import chainrule
from chainrule import serialization
from chainrule.serialization import CheckpointError, WeightsOnlyError, _pickler, load, save
from chainrule.serialization._zip import ZipWriter

MiB = 1 << 20


def _archive(records, folder="archive"):
    buffer = io.BytesIO()
    writer = ZipWriter(buffer)
    for name, data in records.items():
        writer.write_record(f"{folder}/{name}", data)
    writer.finish()
    return buffer.getvalue()


@contextlib.contextmanager
def _forging(edit_args=None, edit_pid=None):
    """Save through a pickler that rewrites each tensor's rebuild arguments or storage ids."""
    class Forger(_pickler.TorchPickler):
        def persistent_id(self, obj):
            pid = super().persistent_id(obj)
            return edit_pid(pid) if pid and edit_pid else pid

        def _reduce_tensor(self, tensor):
            func, args = super()._reduce_tensor(tensor)
            return func, (edit_args(args) if edit_args else args)
    original = _pickler.TorchPickler
    _pickler.TorchPickler = Forger
    try:
        yield
    finally:
        _pickler.TorchPickler = original


def _forged(obj, **edits):
    buffer = io.BytesIO()
    with _forging(**edits):
        save(obj, buffer)
    return buffer.getvalue()


def _peak_bytes(fn):
    """Peak Python/NumPy memory allocated while ``fn`` runs (and the exception it raised, if any)."""
    tracemalloc.start()
    try:
        fn()
        error = None
    except Exception as exc:   # the caller checks which
        error = exc
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, error


# -- code in the pickle ------------------------------------------------------------------------------


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _RunsPython:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload,refusal", [
    (_RunsShell, "GLOBAL posix.system whose module posix is blocked"),
    (_RunsPython, "Unsupported global: GLOBAL exec was not an allowed global by default"),
])
@pytest.mark.parametrize("wrapper", ["zip", "legacy"])
def test_a_pickle_that_runs_code_is_refused_under_every_option_but_weights_only_false(tmp_path, payload, refusal,
                                                                                       wrapper):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    obj = {"weights": chainrule.ones(2), "evil": payload(marker)}
    if wrapper == "zip":
        save(obj, path)
    else:
        import torch
        torch.save({"weights": torch.ones(2), "evil": payload(marker)}, path, _use_new_zipfile_serialization=False)
    for kwargs in ({}, {"weights_only": True}, {"map_location": "cpu"}, {"mmap": wrapper == "zip"},
                   {"map_location": lambda storage, location: storage}):
        with serialization.safe_globals([chainrule.nn.Linear]):   # an unrelated allow-list changes nothing
            with pytest.raises(WeightsOnlyError, match=refusal) as info:
                load(path, **kwargs)
        assert isinstance(info.value, pickle.UnpicklingError) and "evil.pt" in str(info.value)
        assert not marker.exists(), f"the payload ran under {kwargs}"
    load(path, weights_only=False)
    assert marker.exists()   # the payload is real: it runs when (and only when) the caller asks for that


def test_blocked_modules_stay_blocked_even_when_allow_listed(tmp_path):
    marker = tmp_path / "ran"
    save(_RunsShell(marker), tmp_path / "evil.pt")
    with serialization.safe_globals([os.system]):
        with pytest.raises(WeightsOnlyError, match="is blocked"):
            load(tmp_path / "evil.pt")
    assert not marker.exists()


def _raw_pickle_archive(opcodes):
    return _archive({"data.pkl": b"\x80\x02" + opcodes + b"."})


def _global(module, name):
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _text(s):
    return pickle.BINUNICODE + struct.pack("<I", len(s)) + s.encode()


@pytest.mark.parametrize("opcodes,message", [
    # Allowed globals called in ways that could allocate or execute without bound.
    (_global("builtins", "bytearray") + pickle.LONG1 + b"\x05\x00\x00\x00\x00\x01" + pickle.TUPLE1 + pickle.REDUCE,
     "bytearray\\(\\) is allowed from bytes only"),
    (_global("_codecs", "encode") + _text("x" * 10) + _text("zlib") + pickle.TUPLE2 + pickle.REDUCE,
     "text codecs only"),
    (_global("torch", "Tensor") + pickle.LONG1 + b"\x06\x00\x00\x00\x00\x00\x01" + pickle.TUPLE1 + pickle.REDUCE,
     "Trying to call torch.Tensor"),
    # BUILD and SETITEM on objects the rules do not allow.
    (pickle.EMPTY_LIST + pickle.EMPTY_DICT + pickle.BUILD, "Can only build"),
    (pickle.EMPTY_LIST + pickle.NONE + pickle.NONE + pickle.SETITEM, "Can only SETITEM"),
    (pickle.EMPTY_DICT + pickle.NONE + pickle.APPEND, "Can only append to lists"),
    # A persistent id that is not a storage, and an unknown opcode.
    (_text("module") + pickle.TUPLE1 + pickle.BINPERSID, "Only persistent_load of storage is allowed"),
    (b"\xff", "Unsupported operand 255"),
])
def test_the_weights_only_rules(tmp_path, opcodes, message):
    path = tmp_path / "x.pt"
    path.write_bytes(_raw_pickle_archive(opcodes))
    with pytest.raises(CheckpointError, match=message):
        load(path)


@pytest.mark.parametrize("opcodes,message", [
    (pickle.NONE + pickle.TUPLE2, "stack too short"),
    (pickle.BINGET + b"\x07", "memo entry 7 is read before it is written"),
    (pickle.BINUNICODE + struct.pack("<I", 1 << 30) + b"abc", "ends in the middle of an instruction"),
    (pickle.MARK + pickle.NONE, "ends before its STOP"),
])
def test_a_malformed_pickle_is_a_corrupted_file(tmp_path, opcodes, message):
    path = tmp_path / "x.pt"
    blob = _raw_pickle_archive(opcodes)
    if message.startswith("ends before"):   # no STOP: drop the final "."
        blob = _archive({"data.pkl": b"\x80\x02" + opcodes})
    path.write_bytes(blob)
    with pytest.raises(CheckpointError, match=f"'.*x.pt' is corrupted \\(data.pkl: .*{message}"):
        load(path)


def test_a_deeply_nested_pickle_loads_without_recursion(tmp_path):
    depth = 200_000
    path = tmp_path / "deep.pt"
    path.write_bytes(_raw_pickle_archive(pickle.MARK * depth + pickle.NONE + pickle.TUPLE * depth))
    loaded = load(path)
    for _ in range(depth - 1):
        (loaded,) = loaded
    assert loaded == (None,)


# -- hostile archives ---------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pickle.dumps([1], protocol=2))
        z.writestr("archive/data/0", b"\0" * (64 * MiB))
    assert path.stat().st_size < MiB
    peak, error = _peak_bytes(lambda: load(path))
    assert isinstance(error, CheckpointError) and "is compressed" in str(error) and "bomb.pt" in str(error)
    assert peak < 4 * MiB


def test_a_truncated_archive_fails_fast_at_every_cut(tmp_path):
    path = tmp_path / "x.pt"
    save({"w": chainrule.arange(10000.0), "b": chainrule.ones(3)}, path)
    blob = path.read_bytes()
    for cut in sorted({1, 3, 4, 30, 100, len(blob) // 2, len(blob) - 100, len(blob) - 22, len(blob) - 1}):
        path.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match="'.*x.pt' (is not a readable zip archive|is truncated)"):
            load(path)


def test_a_flipped_byte_in_a_storage_fails_its_crc(tmp_path):
    path = tmp_path / "x.pt"
    save({"w": chainrule.arange(100.0)}, path)
    blob = bytearray(path.read_bytes())
    at = zipfile.ZipFile(path).getinfo("x/data/0").header_offset + 200
    blob[at] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="record x/data/0 fails its CRC-32 check"):
        load(path)


def test_records_that_overlap_or_reach_past_the_file_are_refused(tmp_path):
    path = tmp_path / "x.pt"
    save({"w": chainrule.arange(100.0)}, path)
    blob = path.read_bytes()
    archive = zipfile.ZipFile(path)
    # Point record data/0's directory entry at data.pkl's header: two records over the same bytes.
    central = blob.index(b"PK\x01\x02")
    entries = [i for i in range(central, len(blob)) if blob.startswith(b"PK\x01\x02", i)]
    names = [n.filename for n in archive.infolist()]
    target = entries[names.index("x/data/0")]
    forged = bytearray(blob)
    forged[target + 42:target + 46] = struct.pack("<I", 0)
    path.write_bytes(bytes(forged))
    with pytest.raises(CheckpointError, match="overlap|runs into|damaged"):
        load(path)
    forged = bytearray(blob)
    forged[target + 20:target + 28] = struct.pack("<II", 1 << 31, 1 << 31)   # sizes past the end
    path.write_bytes(bytes(forged))
    with pytest.raises(CheckpointError, match="runs into the directory|outside"):
        load(path)


def test_a_storage_bigger_than_its_record_is_refused_before_allocation(tmp_path):
    blob = _forged({"w": chainrule.ones(4)}, edit_pid=lambda pid: pid[:4] + (1 << 40,))
    peak, error = _peak_bytes(lambda: load(io.BytesIO(blob)))
    assert isinstance(error, CheckpointError) and "record data/0 holds 16 bytes" in str(error)
    assert peak < 4 * MiB


@pytest.mark.parametrize("edit,message", [
    (lambda a: (a[0], 0, (1 << 40,), (1,)) + a[4:], "past the end of its storage"),
    (lambda a: (a[0], 3, (2,), (1,)) + a[4:], "past the end of its storage"),
    (lambda a: (a[0], 0, (2 ** 70,), (0,)) + a[4:], "data/0"),
    (lambda a: (a[0], 0, (-1, 2), (2, 1)) + a[4:], "bad size"),
    (lambda a: (a[0], -1, (2,), (1,)) + a[4:], "bad offset"),
    (lambda a: (a[0], 0, (2, 2), (1,)) + a[4:], "do not fit together"),
    (lambda a: ("not a storage",) + a[1:], "expected a storage"),
])
def test_tensor_views_outside_their_storage_are_refused_naming_the_record(edit, message):
    blob = _forged({"w": chainrule.ones(4)}, edit_args=edit)
    with pytest.raises(CheckpointError, match=message):
        load(io.BytesIO(blob))


def test_an_integer_tensor_cannot_be_made_to_require_grad():
    blob = _forged({"w": chainrule.ones(4, dtype=chainrule.int64)}, edit_args=lambda a: a[:4] + (True,) + a[5:])
    with pytest.raises(CheckpointError, match="floating point"):
        load(io.BytesIO(blob))


def test_many_tensors_on_one_storage_are_views_not_copies():
    blob = _forged({f"t{i}": chainrule.ones(1) for i in range(200)},
                   edit_args=lambda a: (a[0], 0, (1 << 20,), (0,)) + a[4:])
    peak, error = _peak_bytes(lambda: load(io.BytesIO(blob)))
    assert error is None and peak < 4 * MiB   # 200 tensors of 4 MiB each, all stride-0 views: no copies


def test_special_files_are_refused_before_reading(tmp_path):
    with pytest.raises(CheckpointError, match="'/dev/zero' is not a regular file \\(a character device\\)"):
        load("/dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="a pipe"):   # and does not block waiting for a writer
        load(fifo)
    with pytest.raises(IsADirectoryError):
        load(tmp_path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")


# -- chainrule's own format ---------------------------------------------------------------------------


def _native(header, data=b""):
    import json
    import zlib
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    crc = zlib.crc32(data, zlib.crc32(raw))
    return struct.pack("<8sIQQI", b"\x89CHAINR\n", 1, len(raw), len(data), crc) + raw + data


def _entry(tag, **meta):
    base = {"dtype": "<f4", "shape": [2], "offset": 0, "nbytes": 8}
    base.update(meta)
    return {tag: base}


@pytest.mark.parametrize("header,message", [
    (_entry("tensor", shape=[2 ** 70], nbytes=8), "needs .* bytes, the entry says 8"),
    (_entry("tensor", shape=[-1, 2], nbytes=8), "shape \\[-1, 2\\]"),
    (_entry("tensor", dtype="<i8", shape=[1], requires_grad=True), "a torch.int64 tensor cannot require grad"),
    (_entry("tensor", dtype="|O"), "dtype '\\|O'"),
    (_entry("tensor", offset=4), "outside the data section"),
    ({"dict": [["a", _entry("tensor")], ["b", _entry("tensor")]]}, "obj\\['a'\\] and obj\\['b'\\] claim overlapping"),
])
def test_chainrule_format_entries_are_checked_and_named(tmp_path, header, message):
    path = tmp_path / "n.pt"
    path.write_bytes(_native(header, b"\0" * 8))
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_chainrule_format_deeply_nested_header_is_a_clear_error(tmp_path):
    path = tmp_path / "n.pt"
    path.write_bytes(_native(b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(CheckpointError, match="nested too deeply"):
        load(path)


class _CountingReader(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.served = 0

    def read(self, n=-1):
        data = super().read(n)
        self.served += len(data)
        return data

    def readinto(self, b):
        n = super().readinto(b)
        self.served += n
        return n


def test_chainrule_format_of_the_wrong_size_fails_before_reading_the_body():
    blob = _native({"tuple": []}, b"\0" * (8 * MiB))
    short = _CountingReader(blob[:-1])
    with pytest.raises(CheckpointError, match="truncated"):
        load(short)
    assert short.served < 1024
    lying = bytearray(blob)
    lying[20:28] = struct.pack("<Q", 1 << 40)   # claims a terabyte of data
    reader = _CountingReader(bytes(lying))
    with pytest.raises(CheckpointError, match="truncated"):
        load(reader)
    assert reader.served < 1024


# -- temporary files ----------------------------------------------------------------------------------


def test_a_save_killed_mid_write_leaves_a_temporary_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "ckpt.pt"
    save({"old": chainrule.ones(2)}, target)
    child = textwrap.dedent(f"""
        import os, signal
        import chainrule
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)   # die after writing, before the rename
        chainrule.save({{"new": chainrule.zeros(1000)}}, {str(target)!r})
        """)
    result = subprocess.run([sys.executable, "-c", child], timeout=120, capture_output=True)
    assert result.returncode == -signal.SIGKILL
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt.pt.")
    assert load(target)["old"].tolist() == [1.0, 1.0]   # the old checkpoint is intact
    alive = tmp_path / f".ckpt.pt.{os.getpid()}.0123abcd.tmp"   # a live process's temporary file stays
    alive.write_bytes(b"in progress")
    save({"newer": chainrule.ones(1)}, target)
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.pt", alive.name])
    assert list(load(target)) == ["newer"]
