import pytest
import torch

from gradconf.synthetic import gaussian_regression, orthogonal_inputs, sphere_teacher, unit_sphere


def test_sphere_points_and_lipschitz_teacher():
    ds = sphere_teacher(200, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(ds.x.norm(dim=1), torch.ones(200, dtype=torch.float64))
    assert ds.y.abs().max() <= 1 and ds.y.shape == (200, 1)
    signs = sphere_teacher(50, 5, generator=torch.Generator().manual_seed(0), labels="sign")
    assert set(signs.y.unique().tolist()) <= {-1.0, 1.0}


def test_sphere_near_orthogonality_shrinks_with_dimension():
    """Paper Lemma B.1: max |<x_i, x_j>| = O(sqrt(log N / d))."""
    def max_abs_inner(d):
        x = unit_sphere(50, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        g = x @ x.T
        return (g - torch.eye(50, dtype=torch.float64)).abs().max().item()
    assert max_abs_inner(4000) < max_abs_inner(40) / 5


def test_gaussian_regression_and_orthogonal_inputs():
    ds = gaussian_regression(100, 120, generator=torch.Generator().manual_seed(0))
    assert ds.x.shape == (100, 120) and ds.y.shape == (100, 1)
    q = orthogonal_inputs(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(q @ q.T, torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="at most d"):
        orthogonal_inputs(7, 6, generator=torch.Generator())
