"""`chainrule run prog.py`: an unmodified program that says `import torch` runs on chainrule.

Each program here runs in a fresh interpreter (the test process has the real PyTorch imported as the oracle).
"""
import subprocess
import sys
import textwrap

import pytest

import chainrule


def run(tmp_path, source, *args, name="prog.py", module=False):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    cmd = [sys.executable, "-m", "chainrule", "run", str(path), *args] if module else \
        [sys.executable, "-c", "import sys; from chainrule.cli import main; sys.exit(main())", "run", str(path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_program_runs_as_main_with_its_argv_and_folder_first(tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 41\n")
    out = run(tmp_path, """
        import sys
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from torch.utils.data import DataLoader, TensorDataset
        from helper_mod import VALUE
        print(__name__, sys.argv[1:], VALUE + 1)
        print(torch.__name__, nn.Linear is torch.nn.Linear, F.relu(torch.tensor([-1.0, 2.0])).tolist())
        """, "--lr", "0.1", module=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["__main__ ['--lr', '0.1'] 42", "chainrule True [0.0, 2.0]"]


def test_exit_status_and_traceback_are_the_programs(tmp_path):
    assert run(tmp_path, "import sys\nsys.exit(3)\n").returncode == 3
    out = run(tmp_path, """
        import torch

        def step():
            raise ValueError("bad batch")

        step()
        """)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "prog.py" in lines[1]          # starts in the program, not in the runner
    assert "runpy" not in out.stderr and "tools/run.py" not in out.stderr
    assert lines[-1] == "ValueError: bad batch"


def test_a_missing_program_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "chainrule", "run", str(tmp_path / "nope.py")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no such program" in out.stderr and "nope.py" in out.stderr


def test_names_pytorch_has_and_chainrule_lacks_say_so(tmp_path):
    out = run(tmp_path, """
        import torch
        for get in (lambda: torch.fft, lambda: torch.zeros(2).stft, lambda: torch.nn.Linear(1, 1).compile):
            try:
                get()
            except AttributeError as e:
                print(e)
        try:
            import torch.fft
        except ImportError as e:
            print(type(e).__name__, e)
        try:
            import torch.not_a_module
        except ImportError as e:
            print(type(e).__name__, e)
        print(hasattr(torch, "fft"), hasattr(torch, "typo_name"))
        """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "module 'chainrule' has no attribute 'fft': chainrule does not implement torch.fft yet",
        "'Tensor' object has no attribute 'stft': chainrule does not implement torch.Tensor.stft yet",
        "'Linear' object has no attribute 'compile': chainrule does not implement torch.nn.Module.compile yet",
        "ModuleNotFoundError chainrule does not implement torch.fft yet",
        "ModuleNotFoundError No module named 'torch.not_a_module'",
        "False False"]


def test_from_import_of_a_missing_name_adds_the_pytorch_name(tmp_path):
    # `from torch.special import ...` style: Python's own ImportError, with a note naming PyTorch's name.
    out = run(tmp_path, "import torch\nfrom torch.nn.functional import grid_sample\n")
    assert out.returncode == 1
    assert "chainrule does not implement torch.nn.functional.grid_sample yet" in out.stderr


def test_typos_keep_pythons_plain_error():
    with pytest.raises(AttributeError, match=r"^module 'chainrule' has no attribute 'zerros'$"):
        chainrule.zerros
    with pytest.raises(AttributeError, match=r"^'Tensor' object has no attribute 'shappe'$"):
        chainrule.zeros(1).shappe
    with pytest.raises(AttributeError, match=r"^'Linear' object has no attribute 'wieght'$"):
        chainrule.nn.Linear(1, 1).wieght


def test_install_as_torch_refuses_when_the_real_torch_is_loaded():
    import torch  # noqa: F401  (the oracle, imported in this process)
    with pytest.raises(RuntimeError, match="real PyTorch is already imported"):
        chainrule.install_as_torch()


def test_install_as_torch_in_a_fresh_interpreter():
    code = textwrap.dedent("""
        import chainrule
        chainrule.install_as_torch()
        import torch, torch.optim.lr_scheduler as sched
        from torch.nn import functional as F
        assert torch is chainrule and sched is chainrule.optim.lr_scheduler and F is chainrule.nn.functional
        chainrule._as_torch.uninstall_as_torch()
        import sys
        assert "torch" not in sys.modules
        print("ok")
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
