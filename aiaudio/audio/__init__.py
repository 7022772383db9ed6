"""Decoding, down-mixing and resampling of audio files.

Every reader returns ``float32`` samples with **channels first**: an array of
shape ``(channels, samples)``, values nominally in ``[-1, 1]``.

Decoding goes through libsndfile (:mod:`soundfile`: WAV, FLAC, OGG/Vorbis,
OGG/Opus, MP3, AIFF, ...) and falls back to FFmpeg through PyAV (:mod:`av`) for
what libsndfile cannot read (AAC/M4A, Opus or Vorbis in WebM/Matroska, WMA,
...). A file that starts with the signature of such a container goes to FFmpeg whatever
its name says (an M4A named ``.mp3`` included: libsndfile would pick its MP3 reader by the
name and mpg123 would make MPEG frames of the AAC bytes). Resampling uses soxr (high quality).

An MP3 that libsndfile stops reading early (a damaged frame it cannot resync past, or
fewer samples than its length estimate) is read on by FFmpeg, which skips damaged
frames as the ``ffmpeg`` command does. It counts as truncated or corrupt only when
FFmpeg also decodes less than the file's length header (Xing/Info frame count, VBRI)
states, or the damaged frames hold more than 2% of the audio. An MP3 without a length
header declares no length: libsndfile's figure is then an estimate from the file size,
ID3 tags and cover art included, and the first frame's bitrate; it can overstate the
length by many seconds, or understate it (VBR), and libsndfile stops at it. So when
libsndfile has read an MP3 to its length, FFmpeg's packets are counted (no decoding), and
if they hold more, FFmpeg decodes the rest.

Long files can be read in blocks with :func:`stream_audio`, so memory stays
flat whatever the duration; :func:`load_audio` is the same reader, concatenated.

Sample rates from :data:`MIN_SAMPLE_RATE` (1 kHz) to :data:`MAX_SAMPLE_RATE`
(768 kHz) are read; a file that declares a rate outside that range is refused
(``reason="bad_sample_rate"``) before anything is decoded or resampled: such a rate is
a damaged or hand-made header (an 80 kB WAV that claims 1 Hz would otherwise count as
11 hours and be resampled to hundreds of MB).

A WAV written to a pipe (``ffmpeg ... -f wav -``) cannot go back to fill in its
RIFF and ``data`` sizes and leaves the placeholder ``0xFFFFFFFF`` (or ``0``): such a
file is read to its end. Its length cannot be checked against the header, so a
streamed WAV cut short reads as a shorter file, not as a damaged one.

Modules: :mod:`~aiaudio.audio.read` (the readers), :mod:`~aiaudio.audio.decoders` (libsndfile and
FFmpeg behind them), :mod:`~aiaudio.audio.encode` (writing and encoding); this package
re-exports their public names.
"""

from ..errors import AudioLoadError
from ..samples import validate_samples  # the one sample check (shared with the cues)
from ._common import AUDIO_EXTENSIONS, AudioInfo, BeyondFullScaleWarning, FULL_SCALE_LIMIT, MAX_ANALYSIS_S, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, PathOrFile, SILENCE_DBFS, check_sample_rate
from .read import AudioStream, audio_info, is_silent, load_audio, load_middle, resample, stream_audio, to_mono
from .decoders import ffmpeg_available
from .encode import encode_audio, write_audio

__all__ = [
    "AudioInfo",
    "AudioLoadError",
    "AudioStream",
    "BeyondFullScaleWarning",
    "FULL_SCALE_LIMIT",
    "MAX_ANALYSIS_S",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "check_sample_rate",
    "PathOrFile",
    "audio_info",
    "load_audio",
    "load_middle",
    "stream_audio",
    "resample",
    "to_mono",
    "validate_samples",
    "is_silent",
    "AUDIO_EXTENSIONS",
    "encode_audio",
    "ffmpeg_available",
    "write_audio",
]
