"""The spectrogram front end, shared by training and inference.

Audio reaches the model as fixed-length mono segments at the model's sample
rate (:func:`segment_audio`); :class:`Frontend` (a torch module, defined on first
access so that importing this module does not import torch) turns a batch of segments into
normalised log-power spectrograms. Training calls that very module;
:func:`spectrogram` computes the same values in numpy for the torch-free runtime (the FFT
is pocketfft's: ``scipy.fft`` where scipy is installed, else ``numpy.fft``), within float32
rounding of it (tested).
This module itself never imports torch.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

import numpy as np

from . import _validate as _v

__all__ = ["FrontendConfig", "Frontend", "fft_backend", "iter_segments", "segment_audio", "segment_starts", "spectrogram"]


#: Allowed ranges of the front-end settings (inclusive); see :class:`FrontendConfig`.
SAMPLE_RATE_RANGE = (1000, 192000)
N_FFT_RANGE = (16, 65536)
MAX_FREQ_HZ = 1e6
MAX_SEGMENT_S = 30.0
SEGMENT_HOP_RANGE_S = (0.01, 3600.0)


@dataclass(frozen=True)
class FrontendConfig:
    """Parameters of the front end (stored in a model's ``config.json``).

    Attributes
    ----------
    sample_rate : int
        Rate (Hz) every input is resampled to before analysis.
    n_fft : int
        FFT size (samples) of the short-time Fourier transform; Hann window of the same length.
    hop_length : int
        Hop (samples) between STFT frames.
    fmin_hz, fmax_hz : float
        Frequency band (Hz) kept from the spectrogram; bins outside are dropped.
    segment_s : float
        Length (s) of the segments the CNN scores.
    segment_hop_s : float
        Hop (s) between segment starts when a song is scored.
    min_duration_s : float
        Shortest input (s) the model scores; shorter clips are rejected, clips between
        this and ``segment_s`` are wrapped around to fill one segment.
    time_pool : int
        STFT frames whose power is averaged into one column before the log (Welch
        averaging): stationary spectral peaks stand out more and the CNN sees a
        smaller map. 1 keeps every frame.

    Every value is checked when the config is made (a ``TypeError`` or ``ValueError``
    naming the field and its allowed range): ``sample_rate`` in [1000, 192000] Hz,
    ``n_fft`` in [16, 65536], ``hop_length`` in [1, n_fft], ``0 <= fmin_hz < sample_rate / 2``,
    ``fmin_hz < fmax_hz <= 1e6`` keeping at least one FFT bin, ``segment_s`` from one FFT
    window to 30 s, ``segment_hop_s`` in [0.01, 3600] s, ``min_duration_s`` from one FFT window to ``segment_s``,
    ``time_pool`` from 1 to the number of STFT frames of a segment. Integers must be
    integers (not ``true``, not ``1024.0``), numbers finite.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 256
    fmin_hz: float = 0.0
    fmax_hz: float = 8000.0
    segment_s: float = 4.0
    segment_hop_s: float = 4.0
    min_duration_s: float = 2.0
    time_pool: int = 1

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_s * self.sample_rate))

    @property
    def segment_hop_samples(self) -> int:
        return int(round(self.segment_hop_s * self.sample_rate))

    @property
    def min_samples(self) -> int:
        return int(round(self.min_duration_s * self.sample_rate))

    @property
    def bin_range(self) -> tuple[int, int]:
        """First and one-past-last FFT bin kept."""
        df = self.sample_rate / self.n_fft
        lo = int(np.ceil(self.fmin_hz / df - 1e-9))
        hi = int(np.floor(min(self.fmax_hz, self.sample_rate / 2) / df + 1e-9)) + 1
        return max(0, lo), min(self.n_fft // 2 + 1, hi)

    @property
    def n_bins(self) -> int:
        lo, hi = self.bin_range
        return hi - lo

    @property
    def n_frames(self) -> int:
        """Columns of the spectrogram the CNN sees (after time pooling)."""
        return (1 + (self.segment_samples - self.n_fft) // self.hop_length) // self.time_pool

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FrontendConfig":
        """Build from a ``frontend`` JSON object; unknown keys and bad values are refused.

        Raises
        ------
        TypeError, ValueError
            Naming the field and its allowed range.
        """
        return _v.dataclass_from(cls, d, "front-end", "frontend")

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        sr = _v.integer("frontend.sample_rate", self.sample_rate, *SAMPLE_RATE_RANGE)
        put("sample_rate", sr)
        n_fft = _v.integer("frontend.n_fft", self.n_fft, *N_FFT_RANGE)
        put("n_fft", n_fft)
        put("hop_length", _v.integer("frontend.hop_length", self.hop_length, 1, n_fft, " (at most n_fft)"))
        nyq = sr / 2
        fmin = _v.real("frontend.fmin_hz", self.fmin_hz, 0.0, nyq, hi_open=True, why=" (below half the sample rate)")
        put("fmin_hz", fmin)
        put("fmax_hz", _v.real("frontend.fmax_hz", self.fmax_hz, fmin, MAX_FREQ_HZ, lo_open=True, why=" (above fmin_hz)"))
        seg = _v.real(
            "frontend.segment_s", self.segment_s, n_fft / sr, MAX_SEGMENT_S, why=" (at least one FFT window, n_fft / sample_rate)"
        )
        put("segment_s", seg)
        put("segment_hop_s", _v.real("frontend.segment_hop_s", self.segment_hop_s, *SEGMENT_HOP_RANGE_S))
        put(
            "min_duration_s",
            _v.real("frontend.min_duration_s", self.min_duration_s, n_fft / sr, seg, why=" (from one FFT window, n_fft / sample_rate, to segment_s)"),
        )
        if self.segment_samples < n_fft:  # rounding of segment_s * sample_rate
            raise ValueError("frontend.segment_s is shorter than one FFT window (n_fft samples)")
        columns = 1 + (self.segment_samples - n_fft) // self.hop_length
        put("time_pool", _v.integer("frontend.time_pool", self.time_pool, 1, columns, f" (at most the {columns} STFT frames of a segment)"))
        if self.n_bins < 1:
            raise ValueError(
                f"frontend.fmin_hz..fmax_hz ({fmin:g}..{self.fmax_hz:g} Hz) keeps no FFT bin; "
                f"bins are sample_rate / n_fft = {sr / n_fft:g} Hz apart"
            )


def segment_starts(n_samples: int, cfg: FrontendConfig) -> list[int]:
    """Start samples of the segments a song of ``n_samples`` (at ``cfg.sample_rate``) is cut into.

    Segments are ``cfg.segment_s`` long and ``cfg.segment_hop_s`` apart; when the
    song does not end exactly on a segment, one more segment ending at the last
    sample covers the tail. A song no longer than one segment gives ``[0]``.
    """
    L, H = cfg.segment_samples, cfg.segment_hop_samples
    if n_samples <= L:
        return [0]
    starts = list(range(0, n_samples - L + 1, H))
    if starts[-1] + L < n_samples:
        starts.append(n_samples - L)
    return starts


def iter_segments(blocks: Iterable[np.ndarray], cfg: FrontendConfig) -> Iterator[tuple[int, np.ndarray]]:
    """Cut a stream of mono blocks at ``cfg.sample_rate`` into segments, as :func:`segment_starts` says.

    Memory stays bounded by one segment plus one block, whatever the stream's length.

    Parameters
    ----------
    blocks : iterable of np.ndarray
        Consecutive mono sample blocks, each of shape ``(n,)`` or ``(1, n)``.
    cfg : FrontendConfig

    Yields
    ------
    start : int
        Start sample of the segment.
    segment : np.ndarray
        ``float32`` samples, shape ``(cfg.segment_samples,)``. A stream shorter than one
        segment gives one segment, wrapped around (repeated) to fill it.
    """
    L, H = cfg.segment_samples, cfg.segment_hop_samples
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # stream position of buf[0]
    next_start = 0
    last_emitted = -1
    for blk in blocks:
        blk = np.asarray(blk, dtype=np.float32).reshape(-1)
        buf = np.concatenate([buf, blk]) if buf.size else blk
        while next_start + L <= buf_start + buf.shape[0]:
            off = next_start - buf_start
            yield next_start, buf[off : off + L].copy()
            last_emitted = next_start
            next_start += H
        # keep the last L samples (for the tail segment) and anything from next_start on
        keep_from = min(next_start, buf_start + buf.shape[0] - L)
        if keep_from > buf_start:
            buf = buf[keep_from - buf_start :]
            buf_start = keep_from
    total = buf_start + buf.shape[0]
    if total == 0:
        return
    if total < L:
        yield 0, np.pad(buf, (0, L - total), mode="wrap")
    elif last_emitted + L < total:
        yield total - L, buf[buf.shape[0] - L :].copy()


def segment_audio(y: np.ndarray, cfg: FrontendConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cut mono audio at the model rate into fixed-length segments (see :func:`iter_segments`).

    Parameters
    ----------
    y : np.ndarray
        Mono samples at ``cfg.sample_rate``, shape ``(samples,)``.
    cfg : FrontendConfig

    Returns
    -------
    segments : np.ndarray
        ``float32``, shape ``(n_segments, cfg.segment_samples)``.
    starts_s : np.ndarray
        Start time (s) of each segment.
    """
    pairs = list(iter_segments([np.asarray(y, dtype=np.float32).reshape(-1)], cfg))
    if not pairs:
        raise ValueError("no samples to segment")
    starts = np.asarray([p[0] for p in pairs], dtype=np.float64) / cfg.sample_rate
    return np.stack([p[1] for p in pairs]), starts


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window of ``n`` samples, float32, computed as ``torch.hann_window(n)`` is
    (in float32 arithmetic: equal to it within one float32 step)."""
    k = np.arange(n, dtype=np.float32) * np.float32(2.0 * np.pi / n)
    return (np.cos(k) * np.float32(-0.5) + np.float32(0.5)).astype(np.float32)


#: Segments per FFT call in :func:`spectrogram`: the windowed frames of two 4-s segments at
#: 16 kHz (2 MB) stay in a core's cache; 8 at a time (8 MB) overflowed the 1-MB L2 cache of
#: the 2-core development machine and cost more per segment.
SPECTROGRAM_CHUNK = 2


FFT_BACKENDS = ("scipy", "numpy")


@functools.lru_cache(maxsize=None)
def _scipy_installed() -> bool:
    from .errors import installed

    return installed("scipy")


def fft_backend(fft: str = "auto") -> str:
    """The FFT :func:`spectrogram` uses: ``"scipy"`` or ``"numpy"``.

    Parameters
    ----------
    fft : {"auto", "scipy", "numpy"}
        ``"auto"`` (default): ``"scipy"`` (``scipy.fft``) when scipy is installed (the ``cues``
        and ``full`` extras bring it), else ``"numpy"`` (``numpy.fft``). Both are pocketfft;
        scipy's transforms a batch of float32 frames about 1.8x faster than numpy's float64
        (numpy's own float32 path is several times slower still, so numpy's is run in float64).

    Returns
    -------
    str
        ``"scipy"`` or ``"numpy"``.
    """
    if fft == "auto":
        return "scipy" if _scipy_installed() else "numpy"
    if fft not in FFT_BACKENDS:
        raise ValueError(f"fft must be 'auto', 'scipy' or 'numpy', got {fft!r}")
    return fft


def spectrogram(
    segments: np.ndarray,
    cfg: FrontendConfig,
    *,
    window: np.ndarray | None = None,
    dtype: type = np.float32,
    fft: str = "auto",
) -> np.ndarray:
    """Normalised log-power spectrograms of waveform segments: :class:`Frontend` in numpy.

    The same computation as the torch module (STFT without centring, periodic Hann window,
    power, bins ``cfg.bin_range``, ``time_pool`` averaging, dB with a floor 100 dB below the
    peak, mean removed, / 20) with pocketfft (``scipy.fft.rfft``, or ``numpy.fft.rfft`` without
    scipy: see :func:`fft_backend`). In float64 it equals the torch module run in float64
    within 1e-10; in float32 (the default, 1.4x faster with scipy) it is as far from those
    exact values as the torch module in float32 is (about 1e-7 on bins well above the floor,
    up to 1e-3 on bins near the -100 dB floor, where any float32 FFT's rounding shows; the
    CNN's logits move by under 1e-4). With numpy's FFT the frames are transformed in float64
    and the power is rounded to ``dtype``.

    Parameters
    ----------
    segments : np.ndarray
        ``(batch, samples)`` mono samples at ``cfg.sample_rate`` (``samples >= cfg.n_fft``).
    cfg : FrontendConfig
    window : np.ndarray, optional
        :func:`hann_window` of ``cfg.n_fft`` (pass it to save recomputing it).
    dtype : numpy float type
        Precision of the computation: ``np.float32`` (default, as the torch module) or ``np.float64``.
    fft : {"auto", "scipy", "numpy"}
        Which FFT (:func:`fft_backend`); ``"auto"`` takes scipy's when it is installed.

    Returns
    -------
    np.ndarray
        Of ``dtype``, shape ``(batch, 1, n_bins, frames)``.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    backend = fft_backend(fft)
    if backend == "scipy":
        from scipy import fft as sfft

        def rfft(frames: np.ndarray) -> np.ndarray:
            return sfft.rfft(frames, axis=-1, overwrite_x=True)
    else:
        rfft = functools.partial(np.fft.rfft, axis=-1)

    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    x = np.asarray(segments, dtype=dt)
    if x.ndim != 2 or x.shape[1] < cfg.n_fft:
        raise ValueError(f"segments must be (batch, samples) with samples >= n_fft = {cfg.n_fft}, got shape {x.shape}")
    w = (hann_window(cfg.n_fft) if window is None else window).astype(dt, copy=False)
    lo, hi = cfg.bin_range
    tp = cfg.time_pool
    n_frames = 1 + (x.shape[1] - cfg.n_fft) // cfg.hop_length
    cols = n_frames // tp
    out = np.empty((x.shape[0], 1, hi - lo, cols), dtype=dt)
    one = dt.type
    frame_dt = dt if backend == "scipy" else np.dtype(np.float64)
    buf = np.empty((min(SPECTROGRAM_CHUNK, x.shape[0]), n_frames, cfg.n_fft), dtype=frame_dt)  # windowed frames, reused
    for i in range(0, x.shape[0], SPECTROGRAM_CHUNK):
        part = x[i : i + SPECTROGRAM_CHUNK]
        frames = np.multiply(sliding_window_view(part, cfg.n_fft, axis=1)[:, :: cfg.hop_length][:, :n_frames], w, out=buf[: part.shape[0]])
        spec = rfft(frames)[..., lo:hi]  # (b, frames, bins), complex64 (complex128 from numpy's)
        power = spec.real * spec.real
        power += spec.imag * spec.imag
        power = power.astype(dt, copy=False)
        if tp > 1:
            power = power[:, : cols * tp].reshape(power.shape[0], cols, tp, power.shape[2]).mean(axis=2)
        power = power.transpose(0, 2, 1)  # (b, bins, columns)
        floor = power.max(axis=(1, 2), keepdims=True) * one(1e-10) + one(1e-30)
        db = np.log10(power + floor) * one(10.0)
        db -= db.mean(axis=(1, 2), keepdims=True)
        out[i : i + part.shape[0], 0] = db / one(20.0)
    return out


@functools.lru_cache(maxsize=None)
def _define_frontend() -> type:
    """Define the torch module :class:`Frontend` (on first use, so that this module never imports torch itself)."""
    import torch
    from torch import nn

    class Frontend(nn.Module):
        """Batch of waveform segments -> normalised log-power spectrograms.

        Input ``(batch, samples)`` float32 at ``cfg.sample_rate``; output
        ``(batch, 1, n_bins, n_frames)``. Each spectrogram is in dB with a floor
        100 dB below its loudest bin, offset so its mean over time and frequency is 0
        (the score ignores playback gain), and divided by 20 to keep values near unit scale.
        """

        def __init__(self, cfg: FrontendConfig):
            super().__init__()
            self.cfg = cfg
            self.register_buffer("window", torch.hann_window(cfg.n_fft, periodic=True), persistent=False)
            self._lo, self._hi = cfg.bin_range

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            spec = torch.stft(
                x,
                n_fft=self.cfg.n_fft,
                hop_length=self.cfg.hop_length,
                window=self.window,
                center=False,
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()
            power = power[:, self._lo : self._hi, :]
            tp = self.cfg.time_pool
            if tp > 1:
                n = (power.shape[-1] // tp) * tp
                power = power[..., :n].reshape(power.shape[0], power.shape[1], n // tp, tp).mean(dim=-1)
            # floor 100 dB below the segment's peak bin, so the output does not depend on gain
            floor = power.amax(dim=(1, 2), keepdim=True) * 1e-10 + 1e-30
            db = 10.0 * torch.log10(power + floor)
            db = db - db.mean(dim=(1, 2), keepdim=True)
            return (db / 20.0).unsqueeze(1)

    Frontend.__module__ = __name__
    Frontend.__qualname__ = "Frontend"
    return Frontend


def __getattr__(name: str):
    # ``Frontend`` needs torch: it is defined on first access (and then kept as a plain attribute),
    # so ``import aiaudio.frontend`` stays torch-free; pickles name it aiaudio.frontend.Frontend
    if name == "Frontend":
        cls = _define_frontend()
        globals()["Frontend"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
