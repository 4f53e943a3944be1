"""A spoken-word corpus synthesized on this machine with espeak-ng (docs/design.md section 8).

No real speech corpus can be downloaded here, so the accuracy study speaks its own: every
word of :data:`WORDS` (digits plus confusable pairs such as bat/pat and fifteen/fifty) in
every English espeak-ng voice that runs without MBROLA, each with every voice variant
(``+m1``, ``+f3``, ``+whisper``, ...), at a rate and pitch drawn from :data:`RATES` and
:data:`PITCHES`. Each utterance then gets a simple reverberation (convolution with an
exponentially decaying noise impulse of a drawn RT60) and white noise at a drawn SNR, and
becomes 40 log-mel energies per 10 ms frame (python_speech_features, 25 ms window, nfft
1024 at 22.05 kHz). Features are normalized with the training set's mean and deviation.
The test set is the held-out voices (:data:`TEST_VOICES`): speakers the model never heard.

The corpus is cached under ``build/speech/<hash>/corpus.npz``, the hash covering every
parameter and espeak-ng's version; a ``filelock`` lock serialises concurrent builds of one
key. Synthesis runs in a process pool with a ``tqdm`` line on stderr.

Usage::

    corpus = build_corpus(CorpusParams())
    x_list, y = corpus.split("train")
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from filelock import FileLock
from tqdm import tqdm

from ..errors import EseError
from ..model.npzio import atomic_savez, read_npz

__all__ = [
    "WORDS", "NUMBERED_VARIANTS", "RATES", "PITCHES", "SNRS_DB", "RT60S", "TEST_VOICES",
    "SAMPLE_RATE", "N_MELS",
    "CorpusParams", "SpeechCorpus", "english_voices", "voice_variants", "build_corpus",
    "utterance_features",
]

#: Digits, then confusable pairs: voicing (bat/pat, bad/pad, cab/cap), teen/ty
#: (fifteen/fifty, thirteen/thirty), vowels (bit/bet) and a short pair (on/off).
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "bat", "pat", "bad", "pad", "cab", "cap", "fifteen", "fifty", "thirteen", "thirty",
         "bit", "bet", "on", "off")
RATES = (120, 160, 200)              # words per minute (espeak-ng -s)
PITCHES = (30, 50, 70)               # 0-99 (espeak-ng -p)
SNRS_DB = (30.0, 15.0, 5.0)          # white noise against the utterance's power
RT60S = (0.0, 0.2, 0.4)              # seconds; 0 = dry
#: Held out for the test set (espeak-ng voice names): two accents the model never hears.
TEST_VOICES = ("en-gb-scotland", "en-us-nyc")
#: The numbered male and female variants (``+m1`` ... ``+f5``): the study's default set.
NUMBERED_VARIANTS = tuple(f"m{k}" for k in range(1, 9)) + tuple(f"f{k}" for k in range(1, 6))
SAMPLE_RATE = 22050                  # what espeak-ng writes
#: espeak-ng pads words with silence; trim to where the clean signal exceeds this share
#: of its peak, plus a margin, so the last frame the classifier reads ends the word.
TRIM_THRESHOLD = 0.02
TRIM_MARGIN_S = 0.05
N_MELS = 40
FRAME_STEP_S = 0.010
FRAME_LEN_S = 0.025
NFFT = 1024                          # >= 25 ms at 22.05 kHz (551 samples), docs/design.md section 8


@dataclass(frozen=True)
class CorpusParams:
    """What a corpus is made of; every field goes into its cache key.

    ``voices``/``variants`` ``None`` mean every one espeak-ng lists; ``max_variants``
    keeps the first that many variants (in the given or sorted order), for quick runs.
    Each (word, voice, variant) is spoken ``repeats`` times, each with its own drawn
    rate, pitch, SNR and RT60.
    """

    words: tuple = WORDS
    voices: tuple | None = None
    variants: tuple | None = None
    max_variants: int | None = None
    test_voices: tuple = TEST_VOICES
    rates: tuple = RATES
    pitches: tuple = PITCHES
    snrs_db: tuple = SNRS_DB
    rt60s: tuple = RT60S
    repeats: int = 1
    seed: int = 0


@dataclass
class SpeechCorpus:
    """Utterances as (T_k, 40) float32 feature arrays, normalized by the training set.

    Members
    -------
    features : list of (T_k, N_MELS) float32
    labels : (N,) int64, index into ``words``
    voices, variants : (N,) str arrays, who spoke each utterance
    is_test : (N,) bool, held-out voice
    words : tuple of str
    mean, std : (N_MELS,) the training set's normalization (already applied)
    info : dict (parameters, counts, build seconds)
    """

    features: list
    labels: np.ndarray
    voices: np.ndarray
    variants: np.ndarray
    is_test: np.ndarray
    words: tuple
    mean: np.ndarray
    std: np.ndarray
    info: dict = field(default_factory=dict)

    def split(self, name):
        """``(features, labels)`` of the ``"train"`` or ``"test"`` utterances."""
        if name not in ("train", "test"):
            raise EseError(f"split must be 'train' or 'test', got {name!r}")
        pick = np.flatnonzero(self.is_test if name == "test" else ~self.is_test)
        return [self.features[i] for i in pick], self.labels[pick]


def _espeak():
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EseError("espeak-ng is not installed (apt-get install espeak-ng, or `make "
                       "sysdeps`); the speech corpus is synthesized with it")
    return exe


def _espeak_table(option):
    out = subprocess.run([_espeak(), f"--voices={option}"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise EseError(f"espeak-ng --voices={option} failed: {out.stderr.strip()[:200]}")
    rows = [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]
    return [(r[1], r[4]) for r in rows if len(r) >= 5]     # (language, file)


def english_voices():
    """espeak-ng's English voices (language names), without the MBROLA ones (``mb/``),
    which need the separate ``mbrola`` program and voice files that are not installed."""
    seen = []
    for lang, path in _espeak_table("en"):
        # `--voices=en` also lists variant files that name English (``!v/...``).
        if not path.startswith(("mb/", "!v/")) and lang not in seen:
            seen.append(lang)
    return tuple(seen)


def voice_variants():
    """Every espeak-ng voice variant (``!v/NAME`` files), sorted by name."""
    return tuple(sorted({path.split("/", 1)[1] for _, path in _espeak_table("variant")}))


def _espeak_version():
    out = subprocess.run([_espeak(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def utterance_features(signal, rate=SAMPLE_RATE):
    """40 log-mel energies per 10 ms frame: (T, N_MELS) float32."""
    from python_speech_features import logfbank

    feats = logfbank(np.asarray(signal, np.float64), samplerate=rate, winlen=FRAME_LEN_S,
                     winstep=FRAME_STEP_S, nfilt=N_MELS, nfft=NFFT)
    return feats.astype(np.float32)


def _reverb(signal, rt60, rng):
    """Convolve with a decaying white-noise impulse (amplitude down 60 dB at ``rt60``)."""
    if rt60 <= 0:
        return signal
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    impulse = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)
    impulse[0] = 1.0                                  # the direct path
    from scipy.signal import fftconvolve

    wet = fftconvolve(signal, impulse)[: len(signal) + n // 2]
    return wet * (np.std(signal) / max(np.std(wet), 1e-12))


def _trim(signal):
    """Cut espeak-ng's leading and trailing silence (on the clean signal, before noise)."""
    loud = np.flatnonzero(np.abs(signal) > TRIM_THRESHOLD * np.abs(signal).max())
    if loud.size == 0:
        return signal
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return signal[max(0, loud[0] - margin): loud[-1] + margin]


def _add_noise(signal, snr_db, rng):
    power = np.mean(signal ** 2)
    return signal + rng.standard_normal(len(signal)) * np.sqrt(power / 10.0 ** (snr_db / 10.0))


def _synthesize(job):
    """One utterance in a worker: speak, reverberate, add noise, extract features."""
    from scipy.io import wavfile

    word, voice, variant, rate, pitch, snr, rt60, seed = job
    with tempfile.TemporaryDirectory(prefix="ese-speech-") as tmp:
        wav = os.path.join(tmp, "u.wav")
        out = subprocess.run([_espeak(), "-v", f"{voice}+{variant}", "-s", str(rate),
                              "-p", str(pitch), "-w", wav, word],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0 or not os.path.exists(wav):
            raise EseError(f"espeak-ng failed on {word!r} ({voice}+{variant}): "
                           f"{out.stderr.strip()[:200]}")
        sr, pcm = wavfile.read(wav)
    if sr != SAMPLE_RATE or pcm.size == 0:
        raise EseError(f"espeak-ng wrote {pcm.size} samples at {sr} Hz for {word!r} "
                       f"({voice}+{variant}), expected audio at {SAMPLE_RATE} Hz")
    rng = np.random.default_rng(seed)
    signal = _trim(pcm.astype(np.float64) / 32768.0)
    signal = _add_noise(_reverb(signal, rt60, rng), snr, rng)
    return utterance_features(signal)


def _jobs(params, voices, variants):
    """Every (word, voice, variant) with its seeded rate, pitch, SNR and RT60."""
    rng = np.random.default_rng(params.seed)
    jobs = []
    for voice in voices:
        for variant in variants:
            for word in [w for w in params.words for _ in range(params.repeats)]:
                jobs.append((word, voice, variant, int(rng.choice(params.rates)),
                             int(rng.choice(params.pitches)), float(rng.choice(params.snrs_db)),
                             float(rng.choice(params.rt60s)), int(rng.integers(2 ** 63))))
    return jobs


def _resolve(params):
    voices = english_voices() if params.voices is None else tuple(params.voices)
    variants = voice_variants() if params.variants is None else tuple(params.variants)
    if params.max_variants is not None:
        variants = variants[: params.max_variants]
    missing = [v for v in params.test_voices if v not in voices]
    if missing:
        raise EseError(f"test voice {missing[0]!r} is not among the corpus voices "
                       f"({', '.join(voices)})")
    if len(set(voices) - set(params.test_voices)) < 1:
        raise EseError("every voice is held out for the test set; none is left to train on")
    if isinstance(params.repeats, bool) or not isinstance(params.repeats, int) \
            or params.repeats < 1:
        raise EseError(f"repeats must be a positive integer, got {params.repeats!r}")
    if len(params.words) < 2:
        raise EseError(f"a corpus needs at least 2 words, got {len(params.words)}")
    return voices, variants


def _cache_path(params, voices, variants, build_root):
    key = json.dumps({"params": asdict(params), "voices": voices, "variants": variants,
                      "espeak": _espeak_version(), "features": [N_MELS, FRAME_STEP_S,
                                                                FRAME_LEN_S, NFFT],
                      "trim": [TRIM_THRESHOLD, TRIM_MARGIN_S], "format": 1}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(build_root, "speech", digest, "corpus.npz")


def build_corpus(params=CorpusParams(), *, build_root="build", workers=None, progress=None):
    """Build (or load from the cache) the corpus of ``params``; return a :class:`SpeechCorpus`.

    ``workers`` processes synthesize in parallel (default: the CPU count); ``progress``
    ``None`` shows the tqdm line only on a terminal, ``False`` never.
    """
    voices, variants = _resolve(params)
    path = _cache_path(params, voices, variants, build_root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileLock(path + ".lock"):
        if not os.path.exists(path):
            _build_to(path, params, voices, variants, workers, progress)
        return _load(path)


def _build_to(path, params, voices, variants, workers, progress):



    jobs = _jobs(params, voices, variants)
    start = time.monotonic()
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        feats = list(tqdm(pool.map(_synthesize, jobs, chunksize=16), total=len(jobs),
                          desc="speech corpus", unit="utt", file=sys.stderr, disable=disable))
    seconds = time.monotonic() - start
    is_test = np.array([j[1] in params.test_voices for j in jobs])
    train_frames = np.concatenate([f for f, t in zip(feats, is_test, strict=True) if not t])
    mean, std = train_frames.mean(0), train_frames.std(0) + 1e-6
    lengths = np.array([len(f) for f in feats])
    info = {"params": asdict(params), "voices": list(voices), "variants": list(variants),
            "utterances": len(jobs), "train": int((~is_test).sum()), "test": int(is_test.sum()),
            "frames_mean": float(lengths.mean()), "frames_max": int(lengths.max()),
            "build_seconds": round(seconds, 1), "espeak": _espeak_version()}
    atomic_savez(path, {
        "frames": ((np.concatenate(feats) - mean) / std).astype(np.float32),
        "lengths": lengths, "labels": np.array([params.words.index(j[0]) for j in jobs]),
        "voices": np.array([j[1] for j in jobs]), "variants": np.array([j[2] for j in jobs]),
        "is_test": is_test, "words": np.array(params.words), "mean": mean, "std": std,
        "info": np.array(json.dumps(info))}, compressed=False)


def _load(path):

    a = read_npz(path)
    try:
        starts = np.concatenate([[0], np.cumsum(a["lengths"])])
        feats = [a["frames"][s:e] for s, e in zip(starts[:-1], starts[1:], strict=True)]
        return SpeechCorpus(feats, a["labels"].astype(np.int64), a["voices"], a["variants"],
                            a["is_test"].astype(bool), tuple(str(w) for w in a["words"]),
                            a["mean"], a["std"], json.loads(str(a["info"])))
    except (KeyError, ValueError) as e:
        raise EseError(f"{path}: corrupted speech corpus ({type(e).__name__}: {e}); "
                       "delete it to rebuild") from None
