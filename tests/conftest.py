import os
import tempfile
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

# nbval kernels inherit this environment: no inherited Agg backend may silently remove figures, and a
# relative data folder would resolve against the kernel's folder (tests/notebooks), not this one.
os.environ.pop("MPLBACKEND", None)
from gradconf.book import absolute_path_env  # noqa: E402

absolute_path_env()


def shared_data_root() -> Path | None:
    root = os.environ.get("GRADCONF_DATA")
    return Path(root) if root and Path(root).is_dir() else None


@pytest.fixture
def real_data_root():
    """The shared verified data folder; tests using it skip cleanly when it is absent."""
    root = shared_data_root()
    if root is None:
        pytest.skip("GRADCONF_DATA is not set to an existing folder")
    return root


# Notebooks that train networks keep runs in a result store; nbval must compute them afresh.
os.environ["GRADCONF_RESULTS"] = tempfile.mkdtemp(prefix="gradconf-nbval-results-")


def pytest_collection_modifyitems(config, items):
    """Skip the nbval cells of notebooks whose datasets are all absent (tests never download)."""
    from gradconf.book import notebook_datasets
    from gradconf.data import available

    absent: dict[str, bool] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            continue
        if path.stem not in absent:
            needs = notebook_datasets(path.stem)
            absent[path.stem] = bool(needs) and not any(available(name, shared_data_root()) for name in needs)
        if absent[path.stem]:
            item.add_marker(pytest.mark.skip(reason=f"{path.stem} needs one of {notebook_datasets(path.stem)}; "
                                                    "set GRADCONF_DATA"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say in one line why data tests were skipped and how to run them (a silent skip reads as a pass)."""
    if shared_data_root() is not None:
        return
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for r in skipped if "GRADCONF_DATA" in str(getattr(r, "longrepr", "")))
    if n:
        terminalreporter.write_line(f"{n} tests skipped because GRADCONF_DATA is not set: run "
                                    "`GRADCONF_DATA=../shared/data make test` (or point it at your verified "
                                    "MNIST/CIFAR-10 folder) to run them.", yellow=True, bold=True)


@pytest.fixture
def run_benchmark():
    """Run ``benchmarks/<script>`` with arguments in a fresh interpreter on this checkout; return its stdout
    lines after asserting it exited cleanly."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]

    def run(script: str, *args: str, timeout: int) -> list[str]:
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONIOENCODING": "utf-8"}
        proc = subprocess.run([sys.executable, str(root / "benchmarks" / script), *args], cwd=root, env=env,
                              capture_output=True, text=True, encoding="utf-8", timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.splitlines()

    return run
