"""Poisson blending of a generated hole into the known pixels (Perez et al. 2003).

Inside the hole the result f has the generated image's gradients: for each hole pixel p,
sum over its 4-neighbours q inside the image of (f_p - f_q) = sum of (g_p - g_q), with f_q
fixed to the target's known pixels. In matrix form, with L the graph Laplacian of the pixel
grid: L[h, h] f_h = (L g)[h] - L[h, k] t_k.

The system depends only on the mask, so it is built with vectorised scipy.sparse and
factorised once per distinct mask, then solved for every image and channel sharing that
mask at once. It is symmetric positive definite and, with the hole's pixels in row-major
order, banded (bandwidth at most the image width), so the default solver is LAPACK's banded
Cholesky, which handles all right-hand sides together; "splu" (sparse LU) and "pyamg" (one
algebraic multigrid hierarchy per mask, as the original used) give the same result.
Neighbours are true 2-D neighbours: the original linked the left and right image edges (a
wrap-around), which corrupted blends of masks touching those edges.
"""
import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from core.configs import BLEND_SOLVERS as SOLVERS


def grid_laplacian(height, width):
    """Graph Laplacian (degree - adjacency) of the 4-connected height x width grid, CSR."""
    index = np.arange(height * width).reshape(height, width)
    a = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    b = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    n = height * width
    adjacency = sp.coo_matrix((np.ones(2 * len(a)), (np.concatenate([a, b]), np.concatenate([b, a]))),
                              shape=(n, n)).tocsr()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (sp.diags(degree) - adjacency).tocsr()


class PoissonBlender:
    """The factorised Poisson system of one mask ([H, W], 1 = known)."""

    def __init__(self, mask, solver="banded"):
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}")
        flat = np.asarray(mask).ravel() > 0.5
        self.hole, self.known = np.flatnonzero(~flat), np.flatnonzero(flat)
        self.laplacian = grid_laplacian(*mask.shape)
        if len(self.hole) == 0 or len(self.known) == 0:
            raise ValueError("a Poisson system needs both hole and known pixels")
        self.hole_yx = np.unravel_index(self.hole, mask.shape)
        system = self.laplacian[self.hole][:, self.hole]
        if solver == "banded":
            upper = sp.triu(system).tocoo()
            bandwidth = int((upper.col - upper.row).max())
            bands = np.zeros((bandwidth + 1, system.shape[0]))
            bands[bandwidth + upper.row - upper.col, upper.col] = upper.data
            factor = sla.cholesky_banded(bands)
            self._solve = lambda rhs: sla.cho_solve_banded((factor, False), rhs)
        elif solver == "splu":
            # The system is symmetric positive definite: a symmetric fill-reducing ordering
            # gives about half the fill of the default COLAMD.
            factor = spla.splu(system.tocsc(), permc_spec="MMD_AT_PLUS_A")
            self._solve = lambda rhs: factor.solve(np.asfortranarray(rhs))
        else:
            import pyamg
            hierarchy = pyamg.ruge_stuben_solver(system.tocsr())
            self._solve = lambda rhs: np.stack(
                [hierarchy.solve(rhs[:, i], tol=1e-12, maxiter=200) for i in range(rhs.shape[1])], axis=1)

    def fill(self, targets, sources, known):
        """The hole's values [N, holes, C] for targets and sources [N, H, W, C]; known is the
        mask [H, W, 1]. The right-hand side (L g)[hole] - L[hole, known] t[known] is formed
        in image space, at hole pixels only: degree * g - neighbours(g) + neighbours(known t)."""
        n, h, w, c = targets.shape
        y, x = self.hole_yx
        degree = self.laplacian.diagonal().reshape(h, w)[y, x][None, :, None]
        rhs = degree * sources[:, y, x] - _neighbour_sum(sources, y, x) + _neighbour_sum(targets, y, x, known)
        solution = self._solve(rhs.transpose(1, 0, 2).reshape(len(self.hole), n * c))
        return solution.reshape(len(self.hole), n, c).transpose(1, 0, 2)


def _neighbour_sum(images, y, x, only=None):
    """Sum of the in-image 4-neighbours of pixels (y, x), [N, len(y), C]; with `only` ([H, W, 1]
    of 0/1) just the neighbours where it is 1."""
    h, w = images.shape[1:3]
    total = np.zeros((images.shape[0], len(y), images.shape[3]), images.dtype)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        qy, qx = y + dy, x + dx
        inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        if only is not None:
            inside[inside] = only[qy[inside], qx[inside], 0] > 0
        total[:, inside] += images[:, qy[inside], qx[inside]]
    return total


def poisson_blend(targets, sources, masks, solver="banded", clip=(-1.0, 1.0)):
    """Blend a batch: targets, sources [N, H, W, C]; masks [N, H, W] (1 = known).
    Images that share a mask share one factorisation. Known pixels are returned unchanged."""
    targets, sources, masks = np.asarray(targets), np.asarray(sources), np.asarray(masks)
    out = np.array(targets, dtype=np.result_type(targets.dtype, np.float32))
    groups = {}
    for i, mask in enumerate(masks):
        groups.setdefault((mask > 0.5).tobytes(), []).append(i)
    for members in groups.values():
        mask = masks[members[0]] > 0.5
        if mask.all():
            continue  # nothing to fill
        if not mask.any():
            out[members] = sources[members]  # nothing to fill it from
            continue
        blender = PoissonBlender(mask, solver)
        rows = slice(None) if len(members) == len(masks) else np.asarray(members)  # no copy if all share it
        filled = blender.fill(targets[rows], sources[rows], mask[..., None])
        if clip is not None:
            filled = np.clip(filled, *clip)
        y, x = blender.hole_yx
        if isinstance(rows, slice):
            out[:, y, x] = filled
        else:
            out[rows[:, None], y[None, :], x[None, :]] = filled
    return out
