"""Full-band spectral fingerprints: the periodic peaks that neural upsamplers leave.

A transposed convolution or a nearest-neighbour upsampler with stride ``s`` repeats
its kernel every ``s`` samples, which puts small, fixed peaks into the long-term
spectrum at multiples of ``rate / s`` (Pons et al. 2021; Afchar et al. 2025). They sit
across the whole band, most visibly above 8 kHz, where the model's 16 kHz front end
does not look. :func:`fakeprint` measures them: the mean log spectrum of a long-window
STFT minus its smooth envelope, on a fixed grid from :data:`F_LO_HZ` to
:data:`F_HI_HZ`, with a mask that marks where the file has no audio (a low-pass, an
MP3 cut-off, a 16 kHz file): there the value is *unknown*, never "AI".

Only numpy and scipy: the torch-free scorer computes it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import require_extra

require_extra(("scipy",), "cues", "aiaudio.fakeprint")

from scipy.ndimage import median_filter, uniform_filter1d  # noqa: E402

from .audio import resample  # noqa: E402

__all__ = ["FakeprintConfig", "analyse", "band_limit", "bandwidth_hz", "fakeprint"]

#: Rate (Hz) every input is resampled to before the fingerprint.
RATE = 44100
#: Band (Hz) of the fingerprint grid.
F_LO_HZ = 1000.0
F_HI_HZ = 22000.0


@dataclass(frozen=True)
class FakeprintConfig:
    """Settings of :func:`fakeprint`.

    Attributes
    ----------
    n_fft : int
        STFT window (samples at 44.1 kHz); 8192 gives 5.4 Hz bins.
    hop : int
        Hop (samples) between windows.
    envelope_bins : int
        Width (bins) of the running median that gives the smooth envelope.
    pool : int
        Adjacent bins averaged into one output value (the grid has
        ``(F_HI_HZ - F_LO_HZ) / (RATE / n_fft) / pool`` values).
    max_s : float
        Longest stretch (s) analysed.
    floor_db : float
        A band counts as empty where its smoothed level is this far (dB) below the
        median level of 1-4 kHz.
    """

    n_fft: int = 8192
    hop: int = 4096
    envelope_bins: int = 31
    pool: int = 4
    max_s: float = 120.0
    floor_db: float = 50.0

    @property
    def bins(self) -> tuple[int, int]:
        df = RATE / self.n_fft
        return int(np.ceil(F_LO_HZ / df)), int(np.floor(F_HI_HZ / df))

    @property
    def n_out(self) -> int:
        lo, hi = self.bins
        return (hi - lo) // self.pool

    @property
    def freqs_hz(self) -> np.ndarray:
        """Centre frequency (Hz) of each output value."""
        lo, _ = self.bins
        df = RATE / self.n_fft
        k = lo + np.arange(self.n_out) * self.pool + (self.pool - 1) / 2
        return k * df


def _mean_log_spectrum(y: np.ndarray, cfg: FakeprintConfig) -> np.ndarray:
    """Mean power (dB) of Hann-windowed frames, ``(n_fft // 2 + 1,)``."""
    n = cfg.n_fft
    if y.shape[0] < n:
        y = np.pad(y, (0, n - y.shape[0]))
    n_frames = 1 + (y.shape[0] - n) // cfg.hop
    win = np.hanning(n).astype(np.float32)
    power = np.zeros(n // 2 + 1)
    step = 64  # frames per FFT batch: bounded memory
    for i in range(0, n_frames, step):
        idx = np.arange(i, min(i + step, n_frames))[:, None] * cfg.hop + np.arange(n)[None, :]
        spec = np.fft.rfft(y[idx] * win, axis=1)
        power += (spec.real**2 + spec.imag**2).sum(axis=0)
    power /= max(n_frames, 1)
    return 10.0 * np.log10(power + 1e-12)


def bandwidth_hz(db: np.ndarray, cfg: FakeprintConfig = FakeprintConfig(), native_sr: int | None = None) -> float:
    """Highest frequency (Hz) with audio in a mean log spectrum (from :func:`_mean_log_spectrum`).

    The level smoothed over ~350 Hz is compared with the median of 1-4 kHz; the band ends
    where it falls ``floor_db`` below and stays there. ``native_sr / 2`` caps it.
    """
    df = RATE / cfg.n_fft
    smooth = uniform_filter1d(db, size=max(3, int(350 / df)))
    ref = float(np.median(db[int(1000 / df): int(4000 / df)]))
    above = np.nonzero(smooth > ref - cfg.floor_db)[0]
    top = (above[-1] + 1) * df if above.size else 0.0
    if native_sr is not None:
        top = min(top, native_sr / 2)
    return float(min(top, RATE / 2))


def fakeprint(y: np.ndarray, sr: int, cfg: FakeprintConfig = FakeprintConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The fingerprint of a song and where it is known: :func:`analyse` without the bandwidth."""
    residual, mask, _ = analyse(y, sr, cfg)
    return residual, mask


def analyse(y: np.ndarray, sr: int, cfg: FakeprintConfig = FakeprintConfig()) -> tuple[np.ndarray, np.ndarray, float]:
    """The fingerprint of a song, where it is known, and the song's bandwidth, from one STFT.

    Parameters
    ----------
    y : np.ndarray
        Samples ``(samples,)`` or ``(channels, samples)`` (mixed to mono), at ``sr``.
    sr : int
        Sample rate (Hz).
    cfg : FakeprintConfig

    Returns
    -------
    residual : np.ndarray
        ``float32 (cfg.n_out,)``: the mean log spectrum (dB) minus its running median,
        pooled, clipped to +-20 dB; 0 where unknown.
    mask : np.ndarray
        ``float32 (cfg.n_out,)``: 1 where the file has audio, 0 above its bandwidth
        (its cut-off, or its Nyquist frequency) and for silence.
    bandwidth_hz : float
        :func:`bandwidth_hz` of the song (Hz); 0 for silence.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    y = y[: int(cfg.max_s * sr)]
    if sr != RATE:
        y = resample(y, sr, RATE)
    lo, hi = cfg.bins
    n = cfg.n_out
    if not np.any(y):
        return np.zeros(n, np.float32), np.zeros(n, np.float32), 0.0
    db = _mean_log_spectrum(y, cfg)
    top = bandwidth_hz(db, cfg, native_sr=sr)
    env = median_filter(db, size=cfg.envelope_bins, mode="nearest")
    res = np.clip(db - env, -20.0, 20.0)[lo: lo + n * cfg.pool].reshape(n, cfg.pool).mean(axis=1)
    f = cfg.freqs_hz
    mask = (f < top - 200.0).astype(np.float32)
    return (res * mask).astype(np.float32), mask, top


def band_limit(residual: np.ndarray, cutoff_hz: float | np.ndarray, cfg: FakeprintConfig = FakeprintConfig()) -> np.ndarray:
    """Fingerprints ``(..., cfg.n_out)`` made unknown (zero) at and above ``cutoff_hz``.

    ``cutoff_hz`` is one value or one per fingerprint (shape ``residual.shape[:-1]``):
    training draws it at random for both classes, so that a missing band reads as
    unknown, never as evidence.
    """
    cut = np.asarray(cutoff_hz, dtype=np.float64)[..., None]
    return (np.asarray(residual, np.float32) * (cfg.freqs_hz < cut)).astype(np.float32)
