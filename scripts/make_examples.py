"""Make the example clips the README scores: small, deterministic, made here.

    python scripts/make_examples.py [OUT_DIR]      (default: examples/)

What they are, honestly: **synthesised test signals, not recordings of people
nor output of a music generator.** They exist so that a fresh checkout can run
the whole pipeline (decode, score, one row per file) without any data. Their
scores say nothing about how well the detector works on real music.

- ``chords.wav``            8 s, 44.1 kHz stereo 16-bit: additive-synthesis chords
                            (decaying harmonics, slight stereo spread) and a noise hi-hat.
- ``chords_griffinlim.flac`` the same clip through a 128-band mel spectrogram and back
                            (Griffin-Lim, 32 iterations): a non-neural *reconstruction*,
                            the kind of processing the Deezer study counts as synthetic.
- ``drums.mp3``             6 s drum pattern (sine-sweep kick, noise snare and hat), MP3 128 kbps
                            (FFmpeg's LAME, or libsndfile's without PyAV).
- ``pad_16k.ogg``           6 s mono Vorbis pad at 16 kHz (band-limited to 8 kHz).
- ``bass.m4a``              6 s bass line, AAC in MP4 (decoded through FFmpeg); written only where
                            PyAV is installed (``pip install "aiaudio[formats]"``).
- ``short.wav``             1 s clip: shorter than the model needs, so it gets an error row.
- ``not_audio.wav``         a text file named .wav, so it gets an error row too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from aiaudio.audio import ffmpeg_available, write_audio

SR = 44100


def _env(n: int, sr: int, attack: float = 0.01, decay: float = 1.5) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / attack) * np.exp(-t / decay)


def _tone(f0: float, dur: float, sr: int, n_harm: int = 8, decay: float = 1.5) -> np.ndarray:
    n = int(dur * sr)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for h in range(1, n_harm + 1):
        if f0 * h >= sr / 2:
            break
        out += np.sin(2 * np.pi * f0 * h * t + 0.3 * h) / h**1.2
    return out * _env(n, sr, decay=decay)


def chords(sr: int = SR, seconds: float = 8.0, rng: np.random.Generator | None = None) -> np.ndarray:
    rng = rng or np.random.default_rng(0)
    prog = [[261.63, 329.63, 392.00], [220.00, 261.63, 329.63], [174.61, 220.00, 261.63], [196.00, 246.94, 293.66]]
    n = int(seconds * sr)
    y = np.zeros((2, n))
    step = n // len(prog)
    for i, chord in enumerate(prog):
        for j, f in enumerate(chord):
            tone = _tone(f, seconds / len(prog), sr)[: n - i * step]
            pan = 0.3 + 0.2 * j
            y[0, i * step : i * step + tone.size] += (1 - pan) * tone
            y[1, i * step : i * step + tone.size] += pan * tone
    beat = int(0.25 * sr)
    for k in range(0, n - 2000, beat):
        hat = rng.standard_normal(2000) * _env(2000, sr, 0.001, 0.01)
        y[:, k : k + 2000] += 0.15 * hat
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def drums(sr: int = SR, seconds: float = 6.0, rng: np.random.Generator | None = None) -> np.ndarray:
    rng = rng or np.random.default_rng(1)
    n = int(seconds * sr)
    y = np.zeros(n)
    beat = int(0.5 * sr)
    kick_n = int(0.3 * sr)
    t = np.arange(kick_n) / sr
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 8)
    for i, k in enumerate(range(0, n - kick_n, beat)):
        if i % 2 == 0:
            y[k : k + kick_n] += kick
        else:
            sn = rng.standard_normal(kick_n // 2) * _env(kick_n // 2, sr, 0.001, 0.05)
            y[k : k + kick_n // 2] += 0.6 * sn
        hat = rng.standard_normal(1500) * _env(1500, sr, 0.001, 0.008)
        y[k + beat // 2 : k + beat // 2 + 1500] += 0.2 * hat
    y = 0.6 * y / np.abs(y).max()
    return np.stack([y, y]).astype(np.float32)


def pad(sr: int = 16000, seconds: float = 6.0) -> np.ndarray:
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = sum(np.sin(2 * np.pi * f * t * (1 + 0.002 * np.sin(2 * np.pi * 0.3 * t))) for f in (220, 277.18, 329.63, 440))
    y *= np.minimum(1, t / 1.0) * np.minimum(1, (seconds - t) / 1.0)
    return (0.4 * y / np.abs(y).max()).astype(np.float32)


def bass(sr: int = SR, seconds: float = 6.0) -> np.ndarray:
    notes = [55.0, 65.41, 73.42, 82.41]
    per = seconds / 8
    y = np.concatenate([_tone(notes[i % 4], per, sr, n_harm=5, decay=0.4) for i in range(8)])
    return (0.6 * y / np.abs(y).max()).astype(np.float32)


def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters on the Slaney mel scale, area-normalised (librosa.filters.mel's defaults)."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    ramps = mel_f[:, None] - fft_f[None, :]
    fdiff = np.diff(mel_f)[:, None]
    weights = np.maximum(0.0, np.minimum(-ramps[:-2] / fdiff[:-1], ramps[2:] / fdiff[1:]))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def _stft(sig: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """``scipy.signal.stft``'s defaults in numpy: ``n_fft // 2`` zeros at both ends, zeros at the
    end up to a whole hop, each frame divided by the window's sum; ``(bins, frames)``."""
    x = np.pad(sig, (n_fft // 2, n_fft // 2))
    x = np.pad(x, (0, (-(x.size - n_fft)) % hop))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * window
    return np.fft.rfft(frames, axis=-1).T / window.sum()


def _istft(S: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """``scipy.signal.istft``'s defaults in numpy: windowed overlap-add divided by the overlapped
    squared window, the ``n_fft // 2`` boundary samples removed from both ends."""
    frames = np.fft.irfft(S.T, n=n_fft, axis=-1) * window.sum() * window
    n = n_fft + hop * (frames.shape[0] - 1)
    x, norm = np.zeros(n), np.zeros(n)
    for i, f in enumerate(frames):
        x[i * hop : i * hop + n_fft] += f
        norm[i * hop : i * hop + n_fft] += window * window
    x /= np.where(norm > 1e-10, norm, 1.0)
    return x[n_fft // 2 : n - n_fft // 2]


def griffin_lim(y: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512, n_mels: int = 128, n_iter: int = 32) -> np.ndarray:
    """Each channel through a 128-band mel power spectrogram and back: the mel bands' least-squares
    inverse (clipped at 0) gives a magnitude, fast Griffin-Lim (momentum 0.99, seeded random
    phase) its phase. Uses only numpy, which a plain ``pip install aiaudio`` has (the STFT and
    its inverse are ``scipy.signal.stft`` / ``istft``'s with a periodic Hann window, in numpy)."""
    basis = _mel_basis(sr, n_fft, n_mels)
    inverse = np.linalg.pinv(basis)
    rng = np.random.default_rng(0)
    n = y.shape[-1]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann

    def forward(sig: np.ndarray) -> np.ndarray:
        return _stft(sig, n_fft, hop, window)

    def backward(S: np.ndarray) -> np.ndarray:
        x = _istft(S, n_fft, hop, window)
        return np.pad(x, (0, max(0, n - x.size)))[:n]

    out = []
    for ch in np.asarray(y, dtype=np.float64):
        mel = basis @ (np.abs(forward(ch)) ** 2)
        mag = np.sqrt(np.maximum(inverse @ mel, 0.0))
        angles = np.exp(2j * np.pi * rng.random(mag.shape))
        rebuilt = np.zeros_like(angles)
        for _ in range(n_iter):
            previous = rebuilt
            rebuilt = forward(backward(mag * angles))
            z = rebuilt - (0.99 / 1.99) * previous
            angles = z / np.maximum(np.abs(z), 1e-16)
        out.append(backward(mag * angles))
    r = np.stack(out)
    return (0.5 * r / max(np.abs(r).max(), 1e-9)).astype(np.float32)


def main(out_dir: str = "examples") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = chords()
    write_audio(out / "chords.wav", c, SR, subtype="PCM_16")
    write_audio(out / "chords_griffinlim.flac", griffin_lim(c, SR), SR, subtype="PCM_16")
    write_audio(out / "drums.mp3", drums(), SR, bitrate=128_000)
    write_audio(out / "pad_16k.ogg", pad(), 16000)
    if ffmpeg_available():
        write_audio(out / "bass.m4a", bass(), SR, bitrate=128_000)
    else:  # a plain `pip install aiaudio` has no AAC encoder (nor decoder): FFmpeg comes with PyAV
        print('bass.m4a not written: AAC needs FFmpeg, pip install "aiaudio[formats]"')
    write_audio(out / "short.wav", c[:, :SR], SR, subtype="PCM_16")
    (out / "not_audio.wav").write_text("This is a text file with a .wav name; aiaudio reports it as an error row.\n")
    print(f"wrote {len(list(out.iterdir()))} example clips to {out}/ (synthetic test signals, see scripts/make_examples.py)")


if __name__ == "__main__":
    main(*sys.argv[1:])
