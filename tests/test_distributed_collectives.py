"""Every collective against NumPy, on 2, 3 and 4 ranks: every ReduceOp, every dtype, shapes from 0-d and empty
to non-contiguous views; results in place (views write through to their base, version counters move); and the
errors for arguments that cannot work, raised before any rank starts the collective."""
import pytest

from mpi_ranks import check, run_ranks

PROGRAM = """
    import datetime
    import numpy as np
    import chainrule as torch
    import chainrule.distributed as dist
    from chainrule.distributed import ReduceOp

    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=60))
    rank, world = dist.get_rank(), dist.get_world_size()
    DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32,
              torch.int64, torch.uint8, torch.bool]
    SHAPES = [(), (0,), (5,), (2, 3), (3, 0, 2), "transposed"]
    OPS = [ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX, ReduceOp.BAND, ReduceOp.BOR,
           ReduceOp.BXOR]
    checked = 0

    def np_dtype_of(dtype):
        return torch.zeros(0, dtype=dtype).numpy().dtype

    def is_float(np_dtype):
        return np_dtype.kind == "f" or np_dtype.name == "bfloat16"

    def values(r, dtype, shape, case):
        # Rank r's input for this case: every rank can compute every rank's, to build NumPy's answer.
        rng = np.random.default_rng([case, r])
        np_dtype = np_dtype_of(dtype)
        full = (3, 4) if shape == "transposed" else shape
        if is_float(np_dtype):
            a = rng.standard_normal(full).astype(np_dtype)
            if a.size > 2 and r == 1:
                a.reshape(-1)[1] = np.nan     # MIN and MAX must keep NaN, as NumPy does
        elif np_dtype.kind == "b":
            a = rng.integers(0, 2, full).astype(bool)
        else:
            low = 0 if np_dtype.kind == "u" else -3
            a = rng.integers(low, 4, full).astype(np_dtype)
        return a

    def tensor_of(a, shape):
        t = torch.tensor(a)
        return t.t() if shape == "transposed" else t   # a non-contiguous view of its base

    def expected_reduction(arrays, op):
        stack = np.stack(arrays)
        kind = stack.dtype.kind
        if kind == "b":
            fn = {ReduceOp.SUM: np.any, ReduceOp.MAX: np.any, ReduceOp.BOR: np.any, ReduceOp.PRODUCT: np.all,
                  ReduceOp.MIN: np.all, ReduceOp.BAND: np.all,
                  ReduceOp.BXOR: lambda s, axis: np.logical_xor.reduce(s, axis=axis)}[op]
            return fn(stack, axis=0)
        half = is_float(stack.dtype) and stack.dtype.itemsize == 2   # reduced in float32, rounded once
        if op == ReduceOp.AVG:
            return (np.add.reduce(stack.astype(np.float32) if half else stack, axis=0)
                    / len(arrays)).astype(stack.dtype)
        ufunc = {ReduceOp.SUM: np.add, ReduceOp.PRODUCT: np.multiply, ReduceOp.MIN: np.minimum,
                 ReduceOp.MAX: np.maximum, ReduceOp.BAND: np.bitwise_and, ReduceOp.BOR: np.bitwise_or,
                 ReduceOp.BXOR: np.bitwise_xor}[op]
        if half:
            return ufunc.reduce(stack.astype(np.float32), axis=0).astype(stack.dtype)
        return ufunc.reduce(stack, axis=0, dtype=stack.dtype)

    def refused(dtype, op):
        np_dtype = np_dtype_of(dtype)
        if op == ReduceOp.AVG and not is_float(np_dtype):
            return "ReduceOp.AVG needs a floating point tensor"
        if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and is_float(np_dtype):
            return "is a bitwise reduction and needs an integer or bool tensor"
        return None

    def same(got, want, what):
        global checked
        checked += 1
        got = np.asarray(got)
        assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape, got.dtype)
        if want.dtype.name == "bfloat16":
            np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-2, atol=1e-2,
                                       equal_nan=True, err_msg=what)
        elif want.dtype.kind == "f":
            tol = {2: 2e-3, 4: 1e-5, 8: 1e-12}[want.dtype.itemsize]
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True, err_msg=what)
        else:
            np.testing.assert_array_equal(got, want, err_msg=what)

    def expect_error(kind, text, call):
        global checked
        checked += 1
        try:
            call()
        except kind as e:
            assert text in str(e), (text, str(e))
        else:
            raise AssertionError(f"expected {kind.__name__} with {text!r}")

    case = 0
    # ----- all_reduce and reduce: every op, dtype and shape ---------------------------------------------
    for dtype in DTYPES:
        for shape in SHAPES:
            for op in OPS:
                case += 1
                arrays = [values(r, dtype, shape, case) for r in range(world)]
                if shape == "transposed":
                    arrays = [a.T for a in arrays]
                what = f"{op.name} {dtype} {shape}"
                reason = refused(dtype, op)
                t = tensor_of(values(rank, dtype, shape, case), shape)
                if reason:
                    expect_error(TypeError, reason, lambda: dist.all_reduce(t, op=op))
                    continue
                base_version = t._version
                dist.all_reduce(t, op=op)
                want = expected_reduction(arrays, op)
                same(t.numpy(), want, "all_reduce " + what)
                assert t._version > base_version, "all_reduce must bump the version counter"
                dst = case % world
                t = tensor_of(values(rank, dtype, shape, case), shape)
                before = t.numpy().copy()
                dist.reduce(t, dst=dst, op=op)
                same(t.numpy(), want if rank == dst else before, "reduce " + what)

    # A view writes through to its base.
    base = torch.zeros(3, 4)
    view = base[1]
    view.fill_(float(rank + 1))
    dist.all_reduce(view)
    same(base.numpy()[1], np.full(4, world * (world + 1) / 2, np.float32), "view writes through")
    same(base.numpy()[0], np.zeros(4, np.float32), "rest of base untouched")

    # ----- broadcast, all_gather, gather, scatter: every dtype and shape ---------------------------------
    for dtype in DTYPES:
        for shape in SHAPES:
            case += 1
            arrays = [values(r, dtype, shape, case) for r in range(world)]
            if shape == "transposed":
                arrays = [a.T for a in arrays]
            mine = lambda: tensor_of(values(rank, dtype, shape, case), shape)   # noqa: E731
            for root in range(world):
                t = mine()
                dist.broadcast(t, src=root)
                same(t.numpy(), arrays[root], f"broadcast {dtype} {shape} from {root}")
            outputs = [torch.zeros(*arrays[0].shape, dtype=dtype) for _ in range(world)]
            dist.all_gather(outputs, mine())
            for r in range(world):
                same(outputs[r].numpy(), arrays[r], f"all_gather {dtype} {shape} [{r}]")
            flat_shape = (world * arrays[0].shape[0],) + arrays[0].shape[1:] if arrays[0].ndim else (world,)
            for layout in (flat_shape, (world,) + arrays[0].shape):
                out = torch.zeros(*layout, dtype=dtype)
                dist.all_gather_into_tensor(out, mine())
                same(out.numpy(), np.stack(arrays).reshape(layout), f"all_gather_into_tensor {dtype} {layout}")
            dst = case % world
            gathered = [torch.zeros(*arrays[0].shape, dtype=dtype) for _ in range(world)] if rank == dst else None
            dist.gather(mine(), gathered, dst=dst)
            if rank == dst:
                for r in range(world):
                    same(gathered[r].numpy(), arrays[r], f"gather {dtype} {shape} [{r}]")
            src = (case + 1) % world
            parts = [torch.tensor(a) for a in arrays] if rank == src else None
            t = mine()
            dist.scatter(t, parts, src=src)
            same(t.numpy(), arrays[rank], f"scatter {dtype} {shape}")

    # ----- reduce_scatter_tensor: every op the dtype allows ----------------------------------------------
    for dtype in DTYPES:
        for op in OPS:
            case += 1
            if refused(dtype, op):
                continue
            inputs = [values(r, dtype, (world * 2, 3), case) for r in range(world)]
            out = torch.zeros(2, 3, dtype=dtype)
            dist.reduce_scatter_tensor(out, torch.tensor(inputs[rank]), op=op)
            same(out.numpy(), expected_reduction(inputs, op)[2 * rank:2 * rank + 2], f"reduce_scatter {op.name} {dtype}")

    # ----- point to point -----------------------------------------------------------------------------------
    for dtype in DTYPES:
        case += 1
        arrays = [values(r, dtype, (2, 3), case) for r in range(world)]
        right, left = (rank + 1) % world, (rank - 1) % world
        sent = dist.isend(torch.tensor(arrays[rank]), dst=right, tag=7)
        got = torch.zeros(2, 3, dtype=dtype)
        assert dist.recv(got, src=left, tag=7) == left
        sent.wait()
        same(got.numpy(), arrays[left], f"send/recv {dtype}")
    if rank == 0:
        received = {}
        for _ in range(world - 1):
            t = torch.zeros(())
            sender = dist.recv(t)            # from any rank: returns who sent it
            received[sender] = t.item()
        assert received == {r: float(r) for r in range(1, world)}, received
    else:
        dist.send(torch.tensor(float(rank)), dst=0)

    # ----- async_op, objects, barrier ------------------------------------------------------------------------
    t = torch.ones(4)
    work = dist.all_reduce(t, async_op=True)
    assert work.wait() and work.is_completed()
    same(t.numpy(), np.full(4, world, np.float32), "async all_reduce")
    objects = [None] * world
    dist.all_gather_object(objects, {"rank": rank, "text": "x" * rank})
    assert objects == [{"rank": r, "text": "x" * r} for r in range(world)], objects
    shared = [rank, None] if rank == 1 else [None, None]
    dist.broadcast_object_list(shared, src=1)
    assert shared == [1, None], shared
    dist.barrier()

    # ----- arguments that cannot work: refused on the rank, before any collective starts ------------------
    expect_error(ValueError, "holds 1 tensors; it must hold one per rank",
                 lambda: dist.all_gather([torch.zeros(2)], torch.zeros(2)))
    expect_error(ValueError, "every tensor in it must be float32 [2]",
                 lambda: dist.all_gather([torch.zeros(3)] * world, torch.zeros(2)))
    expect_error(ValueError, "output tensor size must be equal to world_size times input tensor size",
                 lambda: dist.all_gather_into_tensor(torch.zeros(world + 1), torch.zeros(1)))
    expect_error(RuntimeError, "is a read-only view", lambda: dist.all_reduce(torch.zeros(1).expand(3)))
    expect_error(TypeError, "Expected parameter `tensor` of type torch.Tensor", lambda: dist.all_reduce([1.0]))
    expect_error(ValueError, f"src={world} is not a rank of the group", lambda: dist.broadcast(torch.zeros(1), world))
    expect_error(TypeError, "op must be a torch.distributed.ReduceOp", lambda: dist.all_reduce(torch.zeros(1), "mean"))
    expect_error(ValueError, "should not be the same as rank of the current process",
                 lambda: dist.send(torch.zeros(1), dst=rank))
    if rank != 0:
        expect_error(ValueError, "``gather_list`` must NOT be specified on non-destination ranks",
                     lambda: dist.gather(torch.zeros(1), [torch.zeros(1)] * world, dst=0))
    dist.barrier()
    counts = [None] * world
    dist.all_gather_object(counts, checked)
    if rank == 0:
        print("checked", counts)
    dist.destroy_process_group()
    assert not dist.is_initialized()
"""


@pytest.mark.parametrize("ranks", [2, 3, 4])
def test_collectives_agree_with_numpy(tmp_path, ranks):
    out = check(run_ranks(ranks, PROGRAM, tmp_path, timeout=600))
    counts = eval(out.split("checked", 1)[1])
    assert len(counts) == ranks and min(counts) > 900, counts
