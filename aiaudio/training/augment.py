"""Audio augmentation for training, and the fixed degradations of the robustness suite.

Every transform is a small pure function: ``float32`` samples of shape
``(channels, samples)`` and a sample rate in Hz in, new samples out, deterministic
given its parameters (the only randomness is an explicit ``rng``). Training applies
the same random chain to AI and human audio alike (:class:`Augmenter` never sees a
label), so the model cannot learn "band-limited means AI" or "WAV means AI" from the
way the material happens to be stored.

>>> import numpy as np
>>> from aiaudio.training.augment import Augmenter, AugmentConfig, ROBUSTNESS_TRANSFORMS
>>> y = np.zeros((2, 44100), dtype=np.float32)
>>> aug = Augmenter(AugmentConfig())
>>> y2, sr2 = aug(y, 44100, np.random.default_rng(0))
>>> y3, sr3 = ROBUSTNESS_TRANSFORMS["lowpass_8k"](y, 44100)

Transforms
    :func:`reencode` (MP3 / AAC / Opus through FFmpeg at a bit rate, time-aligned),
    :func:`lowpass` (steep elliptic low-pass), :func:`resample_through` (down to a rate
    and back up), :func:`gain`, :func:`eq` (peaking and shelving biquads),
    :func:`compress` (feed-forward compressor / limiter), :func:`pitch_shift`,
    :func:`time_stretch` (phase vocoder, via librosa) and :func:`add_noise`.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Literal

import numpy as np
import scipy.signal

from .. import _validate as _v
from ..audio import encode_audio, load_audio, resample
from ..dsp import EQBand, _as2d, compress, eq, gain, lowpass  # the shared DSP; re-exported here, as before

__all__ = [
    "AugmentConfig",
    "Augmenter",
    "EQBand",
    "ROBUSTNESS_TRANSFORMS",
    "add_noise",
    "compress",
    "eq",
    "gain",
    "lowpass",
    "pitch_shift",
    "reencode",
    "resample_through",
    "time_stretch",
]

Transform = Callable[[np.ndarray, int], "tuple[np.ndarray, int]"]


def _fix_length(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the last axis to exactly ``n`` samples."""
    if y.shape[-1] > n:
        return y[..., :n]
    if y.shape[-1] < n:
        pad = [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])]
        return np.pad(y, pad)
    return y


# --------------------------------------------------------------------------- codecs

#: Codec name -> :func:`aiaudio.audio.encode_audio` format.
_CODEC_FORMATS = {"mp3": "mp3", "aac": "aac", "m4a": "m4a", "opus": "opus"}
#: Sample rates (Hz) each encoder accepts; other rates are resampled to the nearest one above.
_CODEC_RATES = {
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "aac": (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000),
    "m4a": (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000),
    "opus": (8000, 12000, 16000, 24000, 48000),
}
#: Largest start delay (samples) searched for when aligning a decoded codec output.
_MAX_DELAY = 8192


def _codec_rate(codec: str, sr: int) -> int:
    rates = _CODEC_RATES[codec]
    if sr in rates:
        return sr
    if codec == "opus":
        return 48000  # what every Opus encoder does with other rates
    above = [r for r in rates if r >= sr]
    return min(above) if above else max(rates)


#: Encoder options of ``fast=True``: LAME ``-q 7``, FFmpeg AAC's fast coder, Opus complexity 5.
_FAST_OPTIONS = {
    "mp3": {"compression_level": "7"},
    "aac": {"aac_coder": "fast"},
    "m4a": {"aac_coder": "fast"},
    "opus": {"compression_level": "5"},
}


def _encode_decode(y: np.ndarray, sr: int, codec: str, bitrate: int, fast: bool = False) -> np.ndarray:
    """Encode with FFmpeg and decode again; samples at ``sr`` (not yet aligned)."""
    options = _FAST_OPTIONS[codec] if fast else None
    data = encode_audio(y, sr, _CODEC_FORMATS[codec], int(bitrate), options=options)
    out, out_sr = load_audio(io.BytesIO(data))
    if out_sr != sr:
        out = resample(out, out_sr, sr)
    return out


@functools.lru_cache(maxsize=256)
def _codec_delay(codec: str, sr: int, channels: int, fast: bool = False) -> int:
    """Start delay (samples at ``sr``) the encode-decode round trip adds, measured once on a probe.

    The probe is one second of seeded white noise coded at 128 kbit/s; the delay is the
    lag of the cross-correlation peak. It depends on the codec and container, not on
    the bit rate or the content (encoder priming that the decoder does not remove:
    1024 samples for raw ADTS AAC; 0 for MP3 with a LAME header, M4A with an edit list
    and Ogg Opus with its pre-skip), so measuring it on a probe rather than on the
    content keeps the alignment exact for periodic or silent content too.
    """
    rng = np.random.default_rng(12345)
    probe = (0.25 * rng.standard_normal((channels, sr))).astype(np.float32)
    out = _encode_decode(probe, sr, codec, 128_000, fast)
    a, b = probe[0].astype(np.float64), out[0].astype(np.float64)
    xc = scipy.signal.correlate(b, a, mode="full", method="fft")
    lags = scipy.signal.correlation_lags(len(b), len(a), mode="full")
    keep = np.abs(lags) <= _MAX_DELAY
    return int(lags[keep][np.argmax(np.abs(xc[keep]))])


def reencode(y: np.ndarray, sr: int, codec: str, bitrate: int, fast: bool = False) -> tuple[np.ndarray, int]:
    """Pass audio through a lossy codec (encode and decode in memory, FFmpeg via PyAV).

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``, nominally in [-1, 1]
        (the encoder clips beyond, as a real export does).
    sr : int
        Sample rate (Hz).
    codec : {'mp3', 'aac', 'm4a', 'opus'}
        ``'mp3'``: LAME; ``'aac'``: FFmpeg's AAC encoder in an ADTS stream; ``'m4a'``:
        the same in MP4; ``'opus'``: libopus in Ogg.
    bitrate : int
        Target bit rate in bit/s (e.g. ``64_000``); for Opus clamped to the 6-256 kbit/s
        per channel libopus takes (MP3 and AAC encoders clamp on their own).
    fast : bool
        Faster, slightly lower-quality encoder settings (LAME ``-q 7``, FFmpeg AAC's
        ``fast`` coder, Opus complexity 5) instead of the encoders' defaults; the
        training augmentation uses them, the robustness conditions do not.

    Returns
    -------
    y : np.ndarray
        ``float32``, same shape as the input (time-aligned with it: the codec's
        start delay is removed and the tail trimmed or zero-padded).
    sr : int
        The input rate. Rates the encoder does not take (Opus: anything but
        8/12/16/24/48 kHz; MP3: above 48 kHz) are resampled to one it takes and back.

    Notes
    -----
    The start delay is measured once per (codec, rate, channels, bit rate) on a noise
    probe and cached (see ``_codec_delay``). More than two channels are coded one by one.
    """
    if codec not in _CODEC_FORMATS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {sorted(_CODEC_FORMATS)}")
    if bitrate <= 0:
        raise ValueError(f"bitrate must be positive (bit/s), got {bitrate}")
    y = _as2d(y)
    n = y.shape[1]
    if y.shape[0] > 2:
        return np.concatenate([reencode(ch[None], sr, codec, bitrate, fast)[0] for ch in y]), sr
    enc_sr = _codec_rate(codec, sr)
    x = resample(y, sr, enc_sr) if enc_sr != sr else y
    if codec == "opus":  # libopus takes 6 to 256 kbit/s per channel
        bitrate = int(min(max(bitrate, 6000), 256_000 * x.shape[0]))
    out = _encode_decode(x, enc_sr, codec, bitrate, fast)
    d = _codec_delay(codec, enc_sr, x.shape[0], bool(fast))
    out = out[:, d:] if d >= 0 else np.pad(out, ((0, 0), (-d, 0)))
    out = _fix_length(out, x.shape[1])
    if out.shape[0] != y.shape[0]:  # decoders keep the layout; guard anyway
        out = np.repeat(out.mean(axis=0, keepdims=True), y.shape[0], axis=0)
    if enc_sr != sr:
        out = _fix_length(resample(out, enc_sr, sr), n)
    return np.ascontiguousarray(out, dtype=np.float32), sr


# --------------------------------------------------------------------------- band limits


def resample_through(y: np.ndarray, sr: int, via_sr: int) -> np.ndarray:
    """Resample down to ``via_sr`` and back up to ``sr`` (soxr, high quality).

    The result is band-limited to ``via_sr / 2`` exactly the way a file stored at
    ``via_sr`` and played at ``sr`` is. ``via_sr >= sr`` returns the input unchanged.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr, via_sr : int
        Sample rate of ``y`` and the intermediate rate (Hz).

    Returns
    -------
    np.ndarray
        ``float32``, same shape and length.
    """
    y = np.asarray(y, dtype=np.float32)
    if via_sr >= sr or y.shape[-1] == 0:
        return y.copy()
    return _fix_length(resample(resample(y, sr, via_sr), via_sr, sr), y.shape[-1])


# --------------------------------------------------------------------------- pitch and tempo


def _librosa():
    """librosa, imported on first use; it is in the ``train`` extra, not a runtime dependency."""
    from ..errors import require_extra

    require_extra(("librosa",), "train", "pitch shifting and time stretching (aiaudio.training.augment)")
    import librosa

    return librosa


def pitch_shift(y: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift pitch by ``semitones`` (12 per octave), keeping duration.

    :func:`librosa.effects.pitch_shift`: a phase-vocoder time stretch (2048-point
    STFT) followed by soxr resampling; the length is kept exactly.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : int
        Sample rate (Hz).
    semitones : float
        Shift in equal-tempered semitones; +12 doubles every frequency.

    Returns
    -------
    np.ndarray
        ``float32``, same shape.
    """
    librosa = _librosa()

    y = np.asarray(y, dtype=np.float32)
    if semitones == 0:
        return y.copy()
    out = librosa.effects.pitch_shift(y, sr=int(sr), n_steps=float(semitones), res_type="soxr_hq")
    return _fix_length(np.asarray(out, dtype=np.float32), y.shape[-1])


def time_stretch(y: np.ndarray, sr: int, rate: float) -> np.ndarray:
    """Change tempo by ``rate`` keeping pitch (phase vocoder, :func:`librosa.effects.time_stretch`).

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : int
        Sample rate (Hz); unused by the phase vocoder, kept for a uniform signature.
    rate : float
        Speed factor: ``1.05`` plays 5 % faster, so the output has ``len / 1.05`` samples.

    Returns
    -------
    np.ndarray
        ``float32``, ``(channels, round(samples / rate))``.
    """
    librosa = _librosa()

    y = np.asarray(y, dtype=np.float32)
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if rate == 1:
        return y.copy()
    out = librosa.effects.time_stretch(y, rate=float(rate))
    return _fix_length(np.asarray(out, dtype=np.float32), int(round(y.shape[-1] / rate)))


# --------------------------------------------------------------------------- noise


def add_noise(
    y: np.ndarray, snr_db: float, rng: np.random.Generator, color: Literal["white", "pink"] = "white"
) -> np.ndarray:
    """Add Gaussian noise at an exact signal-to-noise ratio.

    The noise is scaled so that ``10 * log10(mean(y**2) / mean(noise**2)) == snr_db``
    over the whole array (all channels together). Silent input is returned unchanged.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    snr_db : float
        Signal-to-noise ratio (dB).
    rng : np.random.Generator
        Source of the noise (the result is deterministic given its state).
    color : {'white', 'pink'}
        Flat spectrum, or power falling 3 dB per octave (1/f).

    Returns
    -------
    np.ndarray
        ``float32``, same shape.
    """
    y = np.asarray(y, dtype=np.float32)
    p_sig = float(np.mean(np.square(y, dtype=np.float64))) if y.size else 0.0
    if p_sig <= 0:
        return y.copy()
    noise = rng.standard_normal(y.shape)
    if color == "pink":
        n = y.shape[-1]
        spec = np.fft.rfft(noise, axis=-1)
        f = np.arange(spec.shape[-1], dtype=np.float64)
        f[0] = 1.0
        noise = np.fft.irfft(spec / np.sqrt(f), n=n, axis=-1)
    elif color != "white":
        raise ValueError(f"unknown noise color {color!r}; use 'white' or 'pink'")
    p_noise = float(np.mean(np.square(noise)))
    scale = math.sqrt(p_sig / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (y + scale * noise).astype(np.float32)


# --------------------------------------------------------------------------- robustness conditions


def _fixed(fn: Callable[[np.ndarray, int], np.ndarray]) -> Transform:
    def t(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
        return _as2d(fn(_as2d(y), int(sr))), int(sr)

    return t


def _original(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    return _as2d(y).copy(), int(sr)


#: The fixed degradations the evaluation scores again under, by name. Each maps
#: ``(y, sr) -> (y, sr)`` with ``y`` ``float32 (channels, samples)``; the rate and
#: channel count are kept (tempo changes alter the length). ``noise_30db`` uses a fixed seed.
def _loudness_war(y: np.ndarray, sr: int) -> np.ndarray:
    """A loudness-war master: +3 dB of air (shelf above 6 kHz), a 4:1 bus compressor 18 dB
    below the peak, normalised to a 0 dBFS peak, then 8 dB into a brick-wall limiter at -0.3 dBFS."""
    peak = float(np.max(np.abs(y))) or 1.0
    z = eq(y, sr, [EQBand("highshelf", 6000.0, 3.0, 0.7)])
    z = compress(z, sr, threshold_db=20 * np.log10(peak) - 18.0, ratio=4.0, attack_ms=10.0, release_ms=150.0, makeup=0.0)
    z = z * (10 ** (8.0 / 20) / max(float(np.max(np.abs(z))), 1e-9))
    return compress(z, sr, threshold_db=-0.3, ratio=np.inf, attack_ms=1.0, release_ms=50.0, makeup=0.0, knee_db=0.0)


ROBUSTNESS_TRANSFORMS: dict[str, Transform] = {
    "original": _original,
    "mp3_64k": lambda y, sr: reencode(y, sr, "mp3", 64_000),
    "mp3_128k": lambda y, sr: reencode(y, sr, "mp3", 128_000),
    "aac_128k": lambda y, sr: reencode(y, sr, "m4a", 128_000),
    "opus_64k": lambda y, sr: reencode(y, sr, "opus", 64_000),
    "resample_16k": _fixed(lambda y, sr: resample_through(y, sr, 16000)),
    "resample_22k": _fixed(lambda y, sr: resample_through(y, sr, 22050)),
    "lowpass_8k": _fixed(lambda y, sr: lowpass(y, sr, 8000.0)),
    "pitch_+1": _fixed(lambda y, sr: pitch_shift(y, sr, 1.0)),
    "pitch_-1": _fixed(lambda y, sr: pitch_shift(y, sr, -1.0)),
    "tempo_+5%": _fixed(lambda y, sr: time_stretch(y, sr, 1.05)),
    "tempo_-5%": _fixed(lambda y, sr: time_stretch(y, sr, 0.95)),
    "gain_-10db": _fixed(lambda y, sr: gain(y, -10.0)),
    "noise_30db": _fixed(lambda y, sr: add_noise(y, 30.0, np.random.default_rng(0))),
    "loud_limit": _fixed(lambda y, sr: _loudness_war(y, sr)),
}


# --------------------------------------------------------------------------- random chain


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the random augmentation chain (stored in a training config).

    Ranges are ``(low, high)`` and drawn uniformly unless said otherwise. The chain,
    in order: EQ, compression, pitch shift, tempo change, band limit, codec, gain, noise.

    Attributes
    ----------
    p_eq : float
        Probability of an equaliser with ``eq_bands`` bands (count drawn uniformly from
        the range), each a peak (or a shelf at the first/last band, half the time) at a
        log-uniform frequency in ``eq_freq_hz`` (Hz), gain uniform in ``+-eq_gain_db`` dB,
        Q log-uniform in ``eq_q``.
    p_compress : float
        Probability of compression: threshold ``compress_threshold_db`` (dB below the
        segment's peak), ratio log-uniform in ``compress_ratio``, attack ``compress_attack_ms``
        and release ``compress_release_ms`` (ms, log-uniform), automatic make-up gain.
    p_pitch : float
        Probability of a pitch shift uniform in ``+-pitch_semitones``.
    p_tempo : float
        Probability of a tempo change by a factor uniform in ``1 +- tempo_change``.
    p_bandlimit : float
        Probability of a band limit: a resample through one of ``resample_rates`` (Hz)
        with probability ``resample_share``, else a low-pass at a log-uniform cut-off in
        ``lowpass_hz`` (Hz). Rates and cut-offs at or above the input's are no-ops.
    p_codec : float
        Probability of a codec round trip: codec uniform over ``codecs``, bit rate
        uniform over ``bitrates_kbps`` (kbit/s).
    gain_db : tuple of float
        Gain range (dB), always applied.
    p_noise : float
        Probability of added noise (white or pink, even odds) at an SNR uniform in ``noise_snr_db``.
    mono : bool
        Down-mix to mono before the chain (halves the cost; the model hears mono anyway).
        A stereo MP3 is band-limited harder than a mono one at the same bit rate (LAME at
        64 kbit/s: about 11 kHz stereo, 16.7 kHz mono); the random low-pass covers that range.
    """

    p_eq: float = 0.3
    eq_bands: tuple[int, int] = (1, 3)
    eq_freq_hz: tuple[float, float] = (60.0, 12000.0)
    eq_gain_db: float = 6.0
    eq_q: tuple[float, float] = (0.5, 2.0)
    p_compress: float = 0.3
    compress_threshold_db: tuple[float, float] = (-24.0, -6.0)
    compress_ratio: tuple[float, float] = (1.5, 20.0)
    compress_attack_ms: tuple[float, float] = (0.5, 30.0)
    compress_release_ms: tuple[float, float] = (30.0, 400.0)
    p_pitch: float = 0.2
    pitch_semitones: float = 1.0
    p_tempo: float = 0.2
    tempo_change: float = 0.05
    p_bandlimit: float = 0.5
    resample_share: float = 0.5
    resample_rates: tuple[int, ...] = (16000, 22050, 24000, 32000)
    lowpass_hz: tuple[float, float] = (4000.0, 16000.0)
    p_codec: float = 0.5
    codecs: tuple[str, ...] = ("mp3", "aac", "opus")
    bitrates_kbps: tuple[int, ...] = (64, 96, 128, 160, 192, 256, 320)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    p_noise: float = 0.2
    noise_snr_db: tuple[float, float] = (30.0, 60.0)
    mono: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                setattr(self, f.name, tuple(v))
            if f.name.startswith("p_") or f.name == "resample_share":
                if not 0.0 <= float(v) <= 1.0:
                    raise ValueError(f"{f.name} is a probability and must lie in [0, 1], got {v}")
        bad = [c for c in self.codecs if c not in _CODEC_FORMATS]
        if bad:
            raise ValueError(f"unknown codecs {bad}; choose from {sorted(_CODEC_FORMATS)}")
        if self.p_codec > 0 and (not self.codecs or not self.bitrates_kbps):
            raise ValueError("p_codec > 0 needs at least one codec and one bit rate")
        if self.p_bandlimit > 0 and self.resample_share > 0 and not self.resample_rates:
            raise ValueError("resample_share > 0 needs at least one rate in resample_rates")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "AugmentConfig":
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are an error."""
        return _v.dataclass_from(cls, dict(d or {}), "augmentation")


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class Augmenter:
    """Random augmentation chain, the same for both classes (it never sees a label).

    Parameters
    ----------
    config : AugmentConfig, optional
        Probabilities and ranges; the defaults when omitted.

    Examples
    --------
    >>> aug = Augmenter(AugmentConfig(p_codec=0.0))
    >>> y, sr = aug(np.zeros((1, 16000), np.float32), 16000, np.random.default_rng(1))
    """

    def __init__(self, config: AugmentConfig | None = None):
        self.config = config or AugmentConfig()

    def __repr__(self) -> str:
        return f"Augmenter({self.config!r})"

    def plan(self, sr: int, rng: np.random.Generator) -> list[tuple[str, dict[str, Any]]]:
        """Draw the steps of one chain: a list of ``(name, parameters)``, for inspection or logging.

        The coin flips of all steps are drawn first, then the parameters of the
        steps taken; the same ``rng`` state gives the same plan.
        """
        c = self.config
        u = rng.random(8)
        steps: list[tuple[str, dict[str, Any]]] = []
        nyq = sr / 2
        if u[0] < c.p_eq:
            k = int(rng.integers(c.eq_bands[0], c.eq_bands[1] + 1))
            fmax = min(c.eq_freq_hz[1], 0.45 * sr)
            freqs = sorted(_loguniform(rng, c.eq_freq_hz[0], fmax) for _ in range(k)) if fmax > c.eq_freq_hz[0] else []
            bands = []
            for j, f in enumerate(freqs):
                kind = "peak"
                if rng.random() < 0.5 and (j == 0 or j == len(freqs) - 1):
                    kind = "lowshelf" if j == 0 else "highshelf"
                bands.append(EQBand(kind, f, float(rng.uniform(-c.eq_gain_db, c.eq_gain_db)), _loguniform(rng, *c.eq_q)))
            if bands:
                steps.append(("eq", {"bands": bands}))
        if u[1] < c.p_compress:
            steps.append(
                (
                    "compress",
                    {
                        "threshold_rel_db": float(rng.uniform(*c.compress_threshold_db)),
                        "ratio": _loguniform(rng, *c.compress_ratio),
                        "attack_ms": _loguniform(rng, *c.compress_attack_ms),
                        "release_ms": _loguniform(rng, *c.compress_release_ms),
                    },
                )
            )
        if u[2] < c.p_pitch and c.pitch_semitones > 0:
            steps.append(("pitch_shift", {"semitones": float(rng.uniform(-c.pitch_semitones, c.pitch_semitones))}))
        if u[3] < c.p_tempo and c.tempo_change > 0:
            steps.append(("time_stretch", {"rate": float(rng.uniform(1 - c.tempo_change, 1 + c.tempo_change))}))
        if u[4] < c.p_bandlimit:
            if rng.random() < c.resample_share:
                via = int(c.resample_rates[int(rng.integers(len(c.resample_rates)))])
                if via < sr:
                    steps.append(("resample_through", {"via_sr": via}))
            else:
                cut = _loguniform(rng, *c.lowpass_hz)
                if cut < 0.999 * nyq:
                    steps.append(("lowpass", {"cutoff_hz": cut}))
        if u[5] < c.p_codec:
            codec = c.codecs[int(rng.integers(len(c.codecs)))]
            kbps = int(c.bitrates_kbps[int(rng.integers(len(c.bitrates_kbps)))])
            steps.append(("reencode", {"codec": codec, "bitrate": kbps * 1000}))
        steps.append(("gain", {"db": float(rng.uniform(*c.gain_db))}))
        if u[6] < c.p_noise:
            steps.append(("add_noise", {"snr_db": float(rng.uniform(*c.noise_snr_db)), "color": "pink" if u[7] < 0.5 else "white"}))
        return steps

    def __call__(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Apply one random chain.

        Parameters
        ----------
        y : np.ndarray
            Samples, ``(channels, samples)`` or ``(samples,)``, at their native rate.
        sr : int
            Sample rate (Hz).
        rng : np.random.Generator
            All random choices come from it: the same state gives the same output.

        Returns
        -------
        y : np.ndarray
            ``float32 (channels, samples')`` (one channel with ``config.mono``); the
            length changes only with a tempo change.
        sr : int
            Unchanged.
        """
        y = _as2d(y)
        sr = int(sr)
        if self.config.mono and y.shape[0] > 1:
            y = y.mean(axis=0, keepdims=True, dtype=np.float32)
        if y.shape[1] == 0:
            return y, sr
        for name, p in self.plan(sr, rng):
            if name == "eq":
                y = eq(y, sr, p["bands"])
            elif name == "compress":
                peak = float(np.abs(y).max())
                if peak > 0:
                    thr = 20 * math.log10(peak) + p["threshold_rel_db"]
                    y = compress(y, sr, thr, p["ratio"], p["attack_ms"], p["release_ms"])
            elif name == "pitch_shift":
                y = pitch_shift(y, sr, p["semitones"])
            elif name == "time_stretch":
                y = time_stretch(y, sr, p["rate"])
            elif name == "resample_through":
                y = resample_through(y, sr, p["via_sr"])
            elif name == "lowpass":
                y = lowpass(y, sr, p["cutoff_hz"])
            elif name == "reencode":
                peak = float(np.abs(y).max())
                scale = 0.99 / peak if peak > 0.99 else 1.0  # an export normalises rather than clips
                y, _ = reencode(y * np.float32(scale), sr, p["codec"], p["bitrate"], fast=True)
                if scale != 1.0:
                    y = y / np.float32(scale)
            elif name == "gain":
                y = gain(y, p["db"])
            elif name == "add_noise":
                y = add_noise(y, p["snr_db"], rng, color=p["color"])
        if not np.all(np.isfinite(y)):  # never hand NaNs to training
            warnings.warn("augmentation produced non-finite samples; they were set to 0", RuntimeWarning, stacklevel=2)
            y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
        return np.ascontiguousarray(y, dtype=np.float32), sr
