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
- ``drums.mp3``             6 s drum pattern (sine-sweep kick, noise snare and hat), MP3 128 kbps.
- ``pad_16k.ogg``           6 s mono Vorbis pad at 16 kHz (band-limited to 8 kHz).
- ``bass.m4a``              6 s bass line, AAC in MP4 (decoded through FFmpeg).
- ``short.wav``             1 s clip: shorter than the model needs, so it gets an error row.
- ``not_audio.wav``         a text file named .wav, so it gets an error row too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from aiaudio.audio import write_audio

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


def griffin_lim(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    out = []
    for ch in y:
        m = librosa.feature.melspectrogram(y=ch, sr=sr, n_fft=2048, hop_length=512, n_mels=128)
        mag = librosa.feature.inverse.mel_to_stft(m, sr=sr, n_fft=2048)
        out.append(librosa.griffinlim(mag, n_iter=32, hop_length=512, random_state=0, length=ch.size))
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
    write_audio(out / "bass.m4a", bass(), SR, bitrate=128_000)
    write_audio(out / "short.wav", c[:, :SR], SR, subtype="PCM_16")
    (out / "not_audio.wav").write_text("This is a text file with a .wav name; aiaudio reports it as an error row.\n")
    print(f"wrote {len(list(out.iterdir()))} example clips to {out}/ (synthetic test signals, see scripts/make_examples.py)")


if __name__ == "__main__":
    main(*sys.argv[1:])
