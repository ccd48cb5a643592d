"""The walk's expected density (``walk="pde"``): the Fokker-Planck equation of the same
drift and diffusion, solved on the crop grid without sampling noise.

The public code's walkers move by ``y += gy dt + sqrt(2 D dt) N(0, 1)`` with ``D`` and
``g`` read at their cell; their density ``p`` then follows ``dp/dt = L p`` with
``L p = lap(D p) - div(g p)`` (the Ito form). Discretized in finite volumes on the crop:
through the face between cells i and i+1 (rows or columns) flows
``J = D_i p_i - D_(i+1) p_(i+1) + (g_i p_i + g_(i+1) p_(i+1)) / 2``, and nothing through
the crop's border (walkers that the public code lets leave come back instead of piling
up on the border cells). Mass is conserved exactly.

``exp(T L) p0`` for the walk's duration ``T = steps dt`` is evaluated by its Chebyshev
expansion (``exp(T L) = e^(-tau) [I_0(tau) + 2 sum_k I_k(tau) T_k(M)]``, ``M`` the operator
mapped onto [-1, 1] by a Gershgorin bound of its spectrum, ``tau = T |lambda_min| / 2``):
about ``sqrt(2 tau ln(1/tol))`` applications of ``L`` instead of the ``T |lambda_min| / 2``
steps an explicit scheme needs to stay stable. Crops of similar size go together.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from methods._diffusion_walk import DiffusionField, WalkSpec

TOLERANCE = 1e-5  # the Chebyshev series' dropped weight (relative to the mass); masks as at 1e-7 per term on the three train splits
BATCH_CELLS = 1 << 17  # padded cells evolved together


def pde_heat(fields: Sequence[DiffusionField], spec: WalkSpec) -> list[np.ndarray]:
    """Expected histogram (float32, crop shape) of ``spec.particles`` walkers per source."""
    out: list[np.ndarray | None] = [None] * len(fields)
    order = sorted(range(len(fields)), key=lambda i: fields[i].coef.size)
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop + 1 - start) * fields[order[stop]].coef.size <= BATCH_CELLS:
            stop += 1
        chunk = order[start:stop]
        for i, density in zip(chunk, _expm(FluxOperator([fields[i] for i in chunk]), spec.steps * spec.dt)):
            out[i] = density * np.float32(spec.particles)
        start = stop
    return out  # type: ignore[return-value]


class FluxOperator:
    """``L`` of a stack of crops padded to one (B, H, W) grid; closed faces carry nothing.

    The face flux is ``J = a_i p_i - b_(i+1) p_(i+1)`` with ``a = D + g / 2``,
    ``b = D - g / 2`` (zero on closed faces), all divided by each crop's spectral radius
    bound so that ``M = L + 1`` (float32) is what the Chebyshev recurrence applies.
    """

    def __init__(self, fields: Sequence[DiffusionField]):
        self.shapes = np.array([f.coef.shape for f in fields])
        b, (hm, wm) = len(fields), self.shapes.max(0)
        coef, gy, gx = (np.zeros((b, hm, wm)) for _ in range(3))
        self.start = np.zeros((b, hm, wm), np.float32)
        for k, f in enumerate(fields):
            h, w = f.coef.shape
            coef[k, :h, :w], gy[k, :h, :w], gx[k, :h, :w] = f.coef, f.gy, f.gx
            for sy, sx in f.sources:  # sources sit on cells (the point, local maxima)
                self.start[k, int(min(max(sy, 0), h - 1)), int(min(max(sx, 0), w - 1))] += 1.0
        rows, cols = np.arange(hm)[None, :, None], np.arange(wm)[None, None, :]
        h_of, w_of = self.shapes[:, 0, None, None], self.shapes[:, 1, None, None]
        open_y = (rows[:, 1:] < h_of) & (cols < w_of)  # the face under row i
        open_x = (cols[:, :, 1:] < w_of) & (rows < h_of)
        drift = np.maximum(np.abs(gy), np.abs(gx)).reshape(b, -1).max(1)
        self.radius = 4.0 * coef.reshape(b, -1).max(1) + 2.0 * drift + 1e-12  # spectrum in [-2 radius, 0]
        inv = (1.0 / self.radius)[:, None, None]
        self.down = ((coef[:, :-1] + 0.5 * gy[:, :-1]) * open_y * inv).astype(np.float32)  # a of the upper cell
        self.up = ((coef[:, 1:] - 0.5 * gy[:, 1:]) * open_y * inv).astype(np.float32)  # b of the lower cell
        self.right = ((coef[:, :, :-1] + 0.5 * gx[:, :, :-1]) * open_x * inv).astype(np.float32)
        self.left = ((coef[:, :, 1:] - 0.5 * gx[:, :, 1:]) * open_x * inv).astype(np.float32)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        """``M p = L p / radius + p``."""
        jy = self.down * p[:, :-1] - self.up * p[:, 1:]
        jx = self.right * p[:, :, :-1] - self.left * p[:, :, 1:]
        out = p.copy()
        out[:, :-1] -= jy
        out[:, 1:] += jy
        out[:, :, :-1] -= jx
        out[:, :, 1:] += jx
        return out


def _expm(op: FluxOperator, duration: float) -> list[np.ndarray]:
    """``exp(duration L) start`` per crop, clipped at 0 (the series' rounding), float32."""
    beta = (2.0 * scaled_bessel(duration * op.radius, TOLERANCE)).astype(np.float32)  # (B, K + 1): 2 e^-tau I_k
    beta[:, 0] *= 0.5
    prev, cur = op.start, op(op.start)
    total = beta[:, 0, None, None] * prev + beta[:, 1, None, None] * cur
    for k in range(2, beta.shape[1]):
        nxt = op(cur)
        nxt *= 2.0
        nxt -= prev
        prev, cur = cur, nxt
        total += beta[:, k, None, None] * cur
    return [np.maximum(total[i, :h, :w], 0.0) for i, (h, w) in enumerate(op.shapes)]


def scaled_bessel(tau: np.ndarray, tolerance: float) -> np.ndarray:
    """``e^-tau I_k(tau)`` for k = 0..K (K: where the weight of every crop's remaining terms,
    ``2 sum_(k > K) e^-tau I_k``, fell below ``tolerance``; ``|T_k| <= 1`` on the spectrum, so
    that bounds the truncation relative to the mass),
    by Miller's backward recurrence normalized with ``I_0 + 2 sum_k I_k = e^tau``."""
    tau = np.maximum(np.asarray(tau, dtype=np.float64), 1e-12)
    top = int(np.sqrt(80.0 * tau.max())) + 40  # I_top / I_0 < 1e-17 for every crop
    values = np.zeros((len(tau), top + 2))
    values[:, top] = 1e-300
    for k in range(top, 0, -1):
        values[:, k - 1] = (2.0 * k / tau) * values[:, k] + values[:, k + 1]
        big = values[:, k - 1] > 1e250
        if big.any():
            values[big] *= 1e-250
    values /= (values[:, :1] + 2.0 * values[:, 1:].sum(1, keepdims=True))
    tail = 2.0 * np.cumsum(values[:, ::-1], axis=1)[:, ::-1]  # tail[:, k]: the weight of the terms k and above
    keep = np.flatnonzero((tail > tolerance).any(0))
    return values[:, : max(int(keep.max()) + 1 if len(keep) else 1, 2)]
