"""The tiny model's corpus, captions and tokenizer: deterministic, covering the vocabulary, round-tripping words."""

from __future__ import annotations

import collections
import random

import numpy as np
import pytest

from riffnb.params import SpectrogramParams
from riffnb.train import captions
from riffnb.train.captions import (
    HELD_OUT_FRAMES,
    INSTRUMENT_WORDS,
    STYLE_WORDS,
    TRAINING_FRAMES,
    caption_for,
    describe,
    vocabulary,
)
from riffnb.train.corpus import (
    IMAGE_WIDTH,
    TINY_PARAMS,
    build_corpus,
    clip_image,
    corpus_specs,
    load_corpus,
)
from riffnb.train.tokenizer import build_tokenizer


def test_specs_are_deterministic_per_seed_and_prefix_stable():
    first = corpus_specs("train", 50, corpus_seed=3)
    assert first == corpus_specs("train", 50, corpus_seed=3)
    assert corpus_specs("train", 20, corpus_seed=3) == first[:20]
    other = corpus_specs("train", 50, corpus_seed=4)
    assert sum(a != b for a, b in zip(first, other)) > 40


def test_train_and_eval_seeds_are_disjoint():
    train = {spec.seed for spec in corpus_specs("train", 500)}
    held_out = {spec.seed for spec in corpus_specs("eval", 500)}
    assert not train & held_out


def test_clip_image_is_reproducible_and_shaped_like_the_models_images():
    spec = corpus_specs("train", 1)[0]
    image = clip_image(spec)
    assert image.shape == (TINY_PARAMS.num_frequencies, IMAGE_WIDTH) == (96, 256)
    assert image.dtype == np.uint8
    assert np.array_equal(image, clip_image(spec))
    # A real clip uses the dynamic range: loud (dark) and quiet (light) pixels.
    assert image.min() < 40 and image.max() > 200


def test_tiny_params_make_a_5_12_second_clip_256_columns():
    assert TINY_PARAMS.hop_length == 441 and (TINY_PARAMS.win_length, TINY_PARAMS.n_fft) == (2205, 4410)
    assert SpectrogramParams.from_exif(TINY_PARAMS.to_exif()) == TINY_PARAMS
    assert TINY_PARAMS.duration_of(IMAGE_WIDTH) == pytest.approx(5.12)


def test_build_corpus_is_the_same_with_one_or_two_workers(tmp_path):
    one = build_corpus(tmp_path / "one", "eval", 6, corpus_seed=1, workers=1)
    two = build_corpus(tmp_path / "two", "eval", 6, corpus_seed=1, workers=2)
    images_one, specs_one = load_corpus(one)
    images_two, specs_two = load_corpus(two)
    assert specs_one == specs_two == corpus_specs("eval", 6, corpus_seed=1)
    assert np.array_equal(images_one, images_two)
    assert not list(tmp_path.glob("*.part"))


def test_build_corpus_refuses_to_mix_corpora(tmp_path):
    build_corpus(tmp_path / "c", "eval", 2, corpus_seed=1)
    with pytest.raises(FileExistsError):
        build_corpus(tmp_path / "c", "eval", 2, corpus_seed=2)


def test_captions_cover_every_style_instrument_and_synonym():
    rng = random.Random(0)
    specs = corpus_specs("train", 3000)
    texts = [caption_for(spec, rng) for spec in specs]
    joined = " | ".join(texts)
    for table in (INSTRUMENT_WORDS, STYLE_WORDS, captions.TEMPO_WORDS, captions.MODE_WORDS, captions.REGISTER_WORDS):
        for synonyms in table.values():
            for phrase in synonyms:
                assert phrase in joined, phrase
    assert collections.Counter(spec.lead for spec in specs).keys() == INSTRUMENT_WORDS.keys()
    assert collections.Counter(spec.style for spec in specs).keys() == STYLE_WORDS.keys()
    assert any("bpm" in text for text in texts) and any(text.count(",") == 0 for text in texts)
    assert all(", ," not in text and not text.endswith(",") for text in texts)


def test_captions_name_every_instrument_and_respect_the_tempo():
    rng = random.Random(1)
    for spec in corpus_specs("train", 400):
        text = caption_for(spec, rng)
        for name in spec.instruments:
            assert any(word in text for word in INSTRUMENT_WORDS[name]), (spec, text)
        words = set(text.replace(",", " ").split())
        if words & {"fast", "quick", "upbeat", "energetic"}:
            assert spec.tempo_bpm >= captions.FAST_BPM, text
        if words & {"slow", "relaxed", "calm"}:
            assert spec.tempo_bpm <= captions.SLOW_BPM, text


def test_held_out_frames_never_appear_in_training_captions():
    # "featuring" and "tune" occur only in held-out frames: no training caption may contain them.
    held_out_only = {"featuring", "tune"}
    for frame in TRAINING_FRAMES:
        assert not set(frame.split()) & held_out_only
    assert all(set(frame.split()) & held_out_only for frame in HELD_OUT_FRAMES[::2])
    rng = random.Random(2)
    texts = [caption_for(spec, rng) for spec in corpus_specs("train", 1000)]
    assert not any(set(text.split()) & held_out_only for text in texts)
    assert not any(text.startswith("some ") or " style" in text for text in texts)
    spec = corpus_specs("eval", 1)[0]
    assert "featuring" in describe(spec, HELD_OUT_FRAMES[0], rng)


def test_seed_prompt_is_a_training_caption():
    spec = captions.ClipSpec("bossa nova", ("electric guitar",), 120, "A", "minor", "mid", 0)
    rng = random.Random(0)
    produced = {describe(spec, "{style} with {instruments}", rng, keep_probability=0.0) for _ in range(50)}
    assert "bossa nova with electric guitar" in produced


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def test_tokenizer_round_trips_every_vocabulary_word(tokenizer):
    words = vocabulary()
    assert {"bossa", "nova", "electric", "guitar", "waltz", "techno", "minor", "bpm"} <= set(words)
    for word in words:
        tokens = tokenizer.tokenize(word)
        assert tokens == [word + "</w>"], (word, tokens)
        ids = tokenizer(word).input_ids
        assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id and len(ids) == 3
        assert tokenizer.decode(ids, skip_special_tokens=True) == word


def test_tokenizer_handles_unknown_words_numbers_and_case(tokenizer):
    tokens = tokenizer.tokenize("Xylophone über 120 BPM")
    assert tokens[-1] == "bpm</w>"
    assert ["1</w>", "2</w>", "0</w>"] == tokens[-4:-1]
    assert len(tokens) > 5  # the unknown words fall back to byte pieces instead of one <unk>
    assert tokenizer.unk_token_id not in tokenizer("xylophone über").input_ids[1:-1]
    assert tokenizer.decode(tokenizer("xylophone über").input_ids, skip_special_tokens=True) == "xylophone über"


def test_tokenizer_survives_save_and_load(tokenizer, tmp_path):
    from transformers import CLIPTokenizer

    tokenizer.save_pretrained(tmp_path)
    again = CLIPTokenizer.from_pretrained(tmp_path)
    prompt = "fast minor bossa nova with electric guitar and drums, 140 bpm"
    assert again(prompt).input_ids == tokenizer(prompt).input_ids
    assert again.model_max_length == 77
    assert len(again) < 2000


def test_an_interrupted_build_resumes_and_matches_a_straight_build(tmp_path):
    class Interrupted(Exception):
        pass

    def stop_after_first_chunk(done, total):
        raise Interrupted

    with pytest.raises(Interrupted):
        build_corpus(tmp_path / "resumed", "eval", 40, corpus_seed=5, progress=stop_after_first_chunk)
    assert (tmp_path / "resumed.part" / "progress.json").is_file()
    seen = []
    build_corpus(tmp_path / "resumed", "eval", 40, corpus_seed=5, progress=lambda done, total: seen.append(done))
    assert seen == [40]  # only the second chunk (clips 32-39) was rendered again
    build_corpus(tmp_path / "straight", "eval", 40, corpus_seed=5)
    assert np.array_equal(load_corpus(tmp_path / "resumed")[0], load_corpus(tmp_path / "straight")[0])
    # Building again is a no-op that recognises the finished corpus.
    assert build_corpus(tmp_path / "straight", "eval", 40, corpus_seed=5) == tmp_path / "straight"
