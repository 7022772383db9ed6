"""Writing and encoding audio: :func:`encode_audio` (bytes of a format, through FFmpeg or libsndfile),
:func:`write_audio` (a file).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from ..samples import validate_samples  # the one sample check (shared with the cues)
from .read import resample, to_mono


#: Output formats :func:`encode_audio` makes through FFmpeg: name -> (container, codec).
_AV_FORMATS = {
    "mp3": ("mp3", "libmp3lame"),
    "m4a": ("ipod", "aac"),
    "aac": ("adts", "aac"),
    "opus": ("ogg", "libopus"),
    "webm": ("webm", "libopus"),
}
#: Sample rates Opus accepts (Hz); other rates are resampled to 48 kHz first.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def encode_audio(y: np.ndarray, sr: int, fmt: str, bitrate: int | None = None, options: dict[str, str] | None = None) -> bytes:
    """Encode samples with a lossy codec in memory (FFmpeg through PyAV).

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(samples,)`` or ``(channels, samples)`` with 1 or 2 channels, float in [-1, 1].
    sr : int
        Sample rate (Hz). Opus only takes 8/12/16/24/48 kHz: other rates are resampled to 48 kHz.
    fmt : str
        ``"mp3"`` (LAME), ``"m4a"`` (AAC in MP4), ``"aac"`` (ADTS), ``"opus"`` (Ogg) or ``"webm"`` (Opus in WebM).
    bitrate : int, optional
        Target bit rate in bit/s (e.g. ``128_000``); the codec default when ``None``.
    options : dict, optional
        FFmpeg encoder options, e.g. ``{"compression_level": "7"}`` for a faster LAME.

    Returns
    -------
    bytes
        The encoded file, readable by :func:`load_audio` through a ``BytesIO``.

    Raises
    ------
    MissingDependencyError
        When PyAV is not installed (the ``formats`` extra).
    """
    from ..errors import require_extra

    require_extra(("av",), "formats", "encoding audio (FFmpeg)")
    import av

    if fmt not in _AV_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(_AV_FORMATS)}")
    container_fmt, codec = _AV_FORMATS[fmt]
    y = validate_samples(y)
    if y.shape[0] > 2:
        y = to_mono(y)
    if codec == "libopus" and sr not in _OPUS_RATES:
        y = resample(y, sr, 48000)
        sr = 48000
    layout = "mono" if y.shape[0] == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_fmt) as c:
        st = c.add_stream(codec, rate=int(sr), layout=layout, options=dict(options or {}))
        if bitrate:
            st.bit_rate = int(bitrate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(y, -1, 1), dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = int(sr)
        frame.pts = 0
        for pkt in st.encode(frame):
            c.mux(pkt)
        for pkt in st.encode(None):
            c.mux(pkt)
    return buf.getvalue()


def write_audio(path: str | os.PathLike[str], y: np.ndarray, sr: int, bitrate: int | None = None, subtype: str | None = None) -> None:
    """Write samples to a file; the format follows the extension.

    WAV, FLAC, OGG (Vorbis), AIFF go through libsndfile (``subtype`` e.g. ``"PCM_24"``,
    ``"FLOAT"``); MP3, M4A, AAC, Opus and WebM through FFmpeg (``bitrate`` in bit/s), which
    PyAV brings (the ``formats`` extra). Without PyAV, MP3 goes through libsndfile's LAME at
    a constant bit rate near ``bitrate`` (MPEG's steps: 128 kbit/s stays 128; default 128);
    the other FFmpeg formats raise :class:`~aiaudio.MissingDependencyError`.

    Parameters
    ----------
    path : path
        Output file; its extension picks the format.
    y : np.ndarray
        ``(samples,)`` or ``(channels, samples)``.
    sr : int
        Sample rate (Hz).
    """
    from .decoders import ffmpeg_available

    ext = Path(path).suffix.lower().lstrip(".")
    if ext == "mp3" and not ffmpeg_available():
        # libsndfile's constant-bit-rate LAME: compression level 0 is 320 kbit/s, each 1/288 of
        # the range 1 kbit/s less (libsndfile's mapping; the MPEG bit rates snap the result)
        kbps = min(max((bitrate or 128_000) / 1000.0, 32.0), 320.0)
        sf.write(os.fspath(path), validate_samples(y).T, int(sr), format="MP3", subtype="MPEG_LAYER_III",
                 compression_level=min((320.0 - kbps) / 288.0, 0.99), bitrate_mode="CONSTANT")
        return
    if ext in _AV_FORMATS:
        Path(path).write_bytes(encode_audio(y, sr, ext, bitrate))
        return
    y = validate_samples(y)
    sf.write(os.fspath(path), y.T, int(sr), subtype=subtype)
