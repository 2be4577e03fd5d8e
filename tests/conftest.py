import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

# nbval kernels inherit this environment: no inherited Agg backend may silently remove figures.
os.environ.pop("MPLBACKEND", None)


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
