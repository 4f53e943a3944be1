"""The accuracy study's pipeline on a tiny corpus: speech -> train -> prune + fine-tune with
the masks held -> export -> compress (nothing pruned further) -> golden (issue 10, 3-4)."""

import shutil

import numpy as np
import pytest

from ese_hw.errors import EseError

torch = pytest.importorskip("torch")
pytest.importorskip("python_speech_features")
if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed (make sysdeps)", allow_module_level=True)

from ese_hw.model.compress import Config, compress  # noqa: E402
from ese_hw.model.golden import GoldenModel  # noqa: E402
from ese_hw.model.stack import load_weights  # noqa: E402
from ese_hw.study import speech, train  # noqa: E402

WORDS = ("zero", "one", "six")
PARAMS = speech.CorpusParams(
    words=WORDS, voices=("en-gb", "en-us", "en-gb-x-rp", "en-029", "en-us-nyc"),
    variants=("m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4"), test_voices=("en-us-nyc",),
    snrs_db=(30.0,), rt60s=(0.0,))
SPEC = train.PruneSpec(n_pe=4, density=0.25, balance="pe")


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory):
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="module")
def corpus(corpus_root):
    return speech.build_corpus(PARAMS, build_root=corpus_root, workers=2, progress=False)


@pytest.fixture(scope="module")
def trained(corpus):
    """A dense model trained one epoch, then pruned and fine-tuned one epoch."""
    torch.set_num_threads(1)
    xtr, ytr = corpus.split("train")
    clf = train.LstmpClassifier(speech.N_MELS, 16, 8, len(WORDS), seed=0)
    train.train_epochs(clf, xtr, ytr, epochs=1, lr=1e-2, batch_size=4)
    dense = {k: v.clone() for k, v in clf.state_dict().items()}
    masks, spec, _ = train.fine_tune(clf, xtr, ytr, n_pe=SPEC.n_pe, densities=(0.5, 0.25),
                                     balance=SPEC.balance, epochs=1, lr=5e-3)
    return clf, dense, masks, spec


def test_corpus_shapes_and_held_out_voice(corpus):
    n = len(WORDS) * 5 * 8
    assert len(corpus.features) == n and corpus.labels.shape == (n,)
    assert all(f.ndim == 2 and f.shape[1] == speech.N_MELS and f.shape[0] > 20
               for f in corpus.features)
    assert set(corpus.labels) == {0, 1, 2}
    assert np.array_equal(corpus.is_test, corpus.voices == "en-us-nyc")
    xtr, _ = corpus.split("train")
    frames = np.concatenate(xtr)                 # normalized by the training set
    np.testing.assert_allclose(frames.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(frames.std(0), 1, atol=1e-2)


def test_corpus_is_cached(corpus, corpus_root, monkeypatch):
    def no_synthesis(*args, **kwargs):
        raise AssertionError("synthesized again")

    monkeypatch.setattr(speech, "_build_to", no_synthesis)
    again = speech.build_corpus(PARAMS, build_root=corpus_root, progress=False)
    assert np.array_equal(again.features[5], corpus.features[5])
    assert again.info["utterances"] == len(corpus.features)


def test_pipeline_masks_held_and_accuracy_above_chance(corpus, trained, tmp_path):
    clf, dense, masks, spec = trained
    xte, yte = corpus.split("test")
    for name, mask in masks.items():
        w = getattr(clf.lstm, name).detach()
        assert w.shape == mask.shape
        assert torch.count_nonzero(w[~mask]) == 0            # the mask held
        assert torch.count_nonzero(w[mask]) == mask.sum()    # and only it
        assert not torch.equal(w[mask], dense[f"lstm.{name}"][mask])   # it trained
    assert masks["weight_ih_l0"].shape == (4 * 16, speech.N_MELS)
    assert masks["weight_hr_l0"].shape == (8, 16)
    assert masks["weight_ih_l0"].float().mean() == pytest.approx(0.25, abs=0.01)
    acc = train.accuracy(clf, xte, yte)
    preds = train.predict(clf, xte, batch_size=7)        # batches keep the given order
    with torch.no_grad():
        for i in (0, 5, len(xte) - 1):
            one = clf(torch.from_numpy(xte[i])[None], torch.tensor([len(xte[i])]))
            assert preds[i] == int(one.argmax())
    assert acc > 1 / len(WORDS) + 0.15, acc

    # Export, then compress as `ese-hw compress` would: it prunes nothing further.
    written = train.export_weights(clf, tmp_path / "w.npz", spec)
    model = compress(load_weights(tmp_path / "w.npz"),
                     Config(n_pe=spec.n_pe, density=spec.density, balance=spec.balance))
    for key in ("W_ix", "W_cr", "W_ym"):
        np.testing.assert_array_equal(model.float_weights[key], written[key])
    y = GoldenModel(model).run(xte[0])
    assert y.shape == (len(xte[0]), 8)
    w, b = train.head_arrays(clf)
    logits = torch.from_numpy(y[-1] @ w.T + b)
    with torch.no_grad():
        ref = clf(torch.from_numpy(xte[0])[None], torch.tensor([len(xte[0])]))[0].double()
    assert torch.allclose(logits, ref, atol=0.1)        # golden head input ~ float


def test_export_refuses_a_spec_the_weights_were_not_pruned_to(trained, tmp_path):
    clf = trained[0]
    with pytest.raises(EseError, match="would drop .* trained weights"):
        train.export_weights(clf, tmp_path / "w.npz",
                             train.PruneSpec(n_pe=4, density=0.1, balance="pe"))


def test_bad_inputs_are_one_line_errors(monkeypatch, trained):
    clf = trained[0]
    with pytest.raises(EseError, match="decreasing"):
        train.fine_tune(clf, [np.zeros((3, 40), np.float32)], np.zeros(1, np.int64), n_pe=4,
                        densities=(0.2, 0.5))
    with pytest.raises(EseError, match="density"):
        train.PruneSpec(n_pe=4, density=0.0)
    with pytest.raises(EseError, match="2 utterances and 1 labels"):
        train.train_epochs(clf, [np.zeros((3, 40), np.float32)] * 2, np.zeros(1), epochs=1)
    with pytest.raises(EseError, match="test voice 'xx'"):
        speech.build_corpus(speech.CorpusParams(voices=("en-gb",), test_voices=("xx",)))
    monkeypatch.setattr(speech.shutil, "which", lambda _: None)
    with pytest.raises(EseError, match="espeak-ng is not installed"):
        speech.english_voices()
