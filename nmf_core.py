"""Non-negative matrix factorization by the exercise's clipped multiplicative updates.

``X`` (n x m, entries >= 0) is approximated by ``Z @ H`` (n x M times M x m, both >= 0). Each
step updates H by (1), then Z by (2) with the new H, element-wise, denominators clipped at FLOOR::

    H <- H * (Z^T X) / (Z^T Z H)        (1)          Z <- Z * (X H^T) / (Z H H^T)        (2)

Lee & Seung, "Algorithms for non-negative matrix factorization", NIPS 13 (2001).
"""

import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

FLOOR = 1e-12  #: the small positive value that denominators are clipped at
SPARSE_BELOW = 0.2  #: data with a smaller share of non-zero entries is multiplied as CSR


class NMFResult(NamedTuple):
    """``X ~ Z @ H``: ``Z`` (n, M), ``H`` (M, m); ``losses[t]`` the loss after t steps."""
    Z: np.ndarray
    H: np.ndarray
    losses: np.ndarray


def non_negative(data, num_components, n_iter=1000, random_state=0) -> NMFResult:
    """Factorize ``data ~ Z @ H``, Z and H >= 0, by ``n_iter`` steps of updates (1) and (2).

    data : array, DataFrame or SciPy sparse matrix of shape (n, m), finite and >= 0
    num_components : int >= 1, the number M of components (rows of H); may exceed min(n, m)
    n_iter : int >= 0, the number of steps; 0 returns the start
    random_state : int, numpy Generator or RandomState, or None: the seed of the start

    Returns ``NMFResult(Z, H, losses)``, ``losses[t] = ||X - Z_t H_t||^2``, t = 0 (start) to n_iter.
    """
    X = as_matrix(data)                # float64; SciPy CSR if mostly zeros: same products, faster
    M, n_iter, rng = _parameters(num_components, n_iter, random_state, X.shape)
    Z, H = start(X.shape, M, X.sum() / (X.shape[0] * X.shape[1]), rng)
    XX = (X ** 2).sum()                        # ||X||^2; on SciPy arrays too, ** is element-wise
    losses = []
    for _ in range(n_iter):
        ZtX, ZtZ = Z.T @ X, Z.T @ Z
        losses.append(squared_error(XX, ZtX, ZtZ, H))                        # of Z_t, H_t
        H = H * ZtX / np.clip(ZtZ @ H, FLOOR, None)                            # (1)
        Z = Z * (X @ H.T) / np.clip(Z @ (H @ H.T), FLOOR, None)                # (2)
    losses.append(squared_error(XX, Z.T @ X, Z.T @ Z, H))
    return NMFResult(Z, H, np.array(losses))


def start(shape: tuple, M: int, mean: float, random_state):
    """The start: ``Z0`` (n, M), then ``H0`` (M, m), absolute standard normal draws times
    ``sqrt(mean / M)``, as scikit-learn's ``init="random"``: ``Z0 @ H0`` is of the data's size."""
    rng, scale = np.random.default_rng(random_state), np.sqrt(mean / M)
    return (np.abs(rng.standard_normal((shape[0], M))) * scale,
            np.abs(rng.standard_normal((M, shape[1]))) * scale)


def squared_error(XX, ZtX, ZtZ, H) -> float:
    """``||X - Z H||^2 = ||X||^2 - 2 <Z^T X, H> + <Z^T Z, H H^T>`` (``<A, B>`` = sum of ``A * B``)
    from products that update (1) needs anyway; ``Z H`` (n x m) is never formed."""
    return float(XX - 2 * np.vdot(ZtX, H) + np.vdot(ZtZ, H @ H.T))


# Below: input checks and the conversion to float64 or CSR, not needed to follow the updates.
def _parameters(num_components, n_iter, random_state, shape: tuple):
    """``(M, n_iter, generator)``, or an error that names the bad parameter and its value."""
    for name, value, low in (("num_components", num_components, 1), ("n_iter", n_iter, 0)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer >= {low}; got {value!r}.")
        if value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value}.")
    if 8 * num_components * sum(shape) > np.iinfo(np.intp).max:   # more than NumPy can ask for
        raise MemoryError(f"num_components={num_components} is too many: Z and H would need "
                          f"{8 * sum(shape) * num_components / 2**30:.3g} GiB; choose fewer.")
    try:
        return int(num_components), int(n_iter), np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise ValueError("random_state must be an integer >= 0, a numpy Generator or "
                         f"RandomState, or None; got {random_state!r}.") from None


def as_matrix(data):
    """``data`` as float64: CSR where it is sparse or mostly zeros (cheaper products), else
    an ndarray.  TypeError for non-numbers, ValueError for a bad shape, NaN, inf or < 0."""
    X = data if sp.issparse(data) else np.asarray(data)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"data must be a 2-D matrix with a row and a column; got shape {X.shape}.")
    text = [c for c, t in getattr(data, "dtypes", {}).items() if t.kind not in "biuf"]
    if text or X.dtype.kind not in "biuf":
        raise TypeError(f"data must be numeric; got dtype {X.dtype}"
                        + (f" in the columns {text}" if text else "") + "; convert or drop it.")
    X = sp.csr_array(X, dtype=np.float64) if sp.issparse(X) else X.astype(np.float64)
    values = X.data if sp.issparse(X) else X
    for bad, what in ((~np.isfinite(values), "NaN or infinite"), (values < 0, "negative")):
        if bad.any():
            raise ValueError(f"data has {bad.sum()} {what} entries, e.g. {values[bad][0]}; NMF "
                             "needs finite values >= 0: fill (DataFrame.fillna) or clip first.")
    return X if sp.issparse(X) or np.count_nonzero(X) >= SPARSE_BELOW * X.size else sp.csr_array(X)
