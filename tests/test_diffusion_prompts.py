"""Weighted prompts (Riffusion's syntax) and schedulers by name."""

from __future__ import annotations

import pytest
import torch

from riffnb.diffusion import prompts, schedulers, steps
from riffnb.diffusion.prompts import PromptError, parse_weighted_prompt
from riffnb.diffusion.schedulers import UnknownSchedulerError
from riffnb.errors import RiffnbError

from diffusion_fixtures import final_layer_norm_bias


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jazz piano", [("jazz piano", 1.0)]),
        ("(jazz) piano", [("jazz", 1.1), (" piano", 1.0)]),
        ("((jazz))", [("jazz", 1.1 * 1.1)]),
        ("[jazz]", [("jazz", 1 / 1.1)]),
        ("(jazz:1.5) piano", [("jazz", 1.5), (" piano", 1.0)]),
        ("(jazz: 0.5 )", [("jazz", 0.5)]),
        ("((jazz:2) piano)", [("jazz", 2 * 1.1), (" piano", 1.1)]),
        ("(a [b] c)", [("a ", 1.1), ("b", 1.1 / 1.1), (" c", 1.1)]),
        ("\\(not weighted\\) \\[no\\]", [("(not weighted) [no]", 1.0)]),
        ("(unclosed piano", [("unclosed piano", 1.1)]),
        ("stray) bracket]", [("stray) bracket]", 1.0)]),
        ("ratio 3:4 time", [("ratio 3:4 time", 1.0)]),
        ("", [("", 1.0)]),
        ("()", [("", 1.0)]),
    ],
)
def test_parse_weighted_prompt(text, expected):
    parsed = parse_weighted_prompt(text)
    assert [fragment for fragment, _ in parsed] == [fragment for fragment, _ in expected]
    assert [weight for _, weight in parsed] == pytest.approx([weight for _, weight in expected])


def test_prompt_must_be_text(tiny_pipe):
    with pytest.raises(PromptError, match="must be a string, got int"):
        parse_weighted_prompt(3)
    with pytest.raises(PromptError, match="negative_prompt must be a string or None"):
        steps.encode_prompt(tiny_pipe, "jazz", negative_prompt=["drums"])
    assert issubclass(PromptError, RiffnbError)


def test_plain_prompt_encodes_exactly_as_diffusers(tiny_pipe):
    ours = steps.encode_prompt(tiny_pipe, "funky jazz piano, with drums!", negative_prompt="lofi")
    cond, uncond = tiny_pipe.pipeline.encode_prompt(
        "funky jazz piano, with drums!", torch.device("cpu"), 1, True, negative_prompt="lofi"
    )
    assert torch.equal(ours.cond, cond) and torch.equal(ours.uncond, uncond)
    empty = steps.encode_prompt(tiny_pipe, "jazz")
    _, diffusers_empty = tiny_pipe.pipeline.encode_prompt("jazz", torch.device("cpu"), 1, True)
    assert torch.equal(empty.uncond, diffusers_empty)


def test_weights_scale_their_tokens_then_keep_the_mean(tiny_pipe):
    plain = steps.encode_prompt(tiny_pipe, "funky jazz piano").cond
    weighted = steps.encode_prompt(tiny_pipe, "funky (jazz:1.5) piano").cond
    assert weighted.shape == plain.shape == (1, 77, 32)
    # Fragments are tokenized separately, but here every word is one token in both, so positions line up.
    assert torch.allclose(weighted.mean(), plain.mean(), atol=1e-6)
    ratio = (weighted / plain)[0].mean(dim=-1)
    rescale = ratio[0]
    assert torch.allclose(ratio[2], 1.5 * rescale, rtol=1e-4)  # "jazz": start token, funky, jazz
    others = torch.cat([ratio[:2], ratio[3:]])
    assert torch.allclose(others, rescale.expand_as(others), rtol=1e-4)
    assert not torch.allclose(rescale, torch.tensor(1.0))


def test_long_prompts_take_up_to_three_chunks(tiny_pipe):
    words = "jazz " * 100  # 100 tokens: two chunks of 75
    embeddings = steps.encode_prompt(tiny_pipe, words, negative_prompt="drums")
    assert embeddings.cond.shape == embeddings.uncond.shape == (1, 154, 32)
    first_chunk = steps.encode_prompt(tiny_pipe, "jazz " * 75).cond
    assert torch.equal(embeddings.cond[:, :77], first_chunk)
    with pytest.warns(UserWarning, match="the prompt is 300 tokens long; riffnb uses the first 225"):
        too_long = steps.encode_prompt(tiny_pipe, "jazz " * 300)
    assert too_long.cond.shape == (1, 231, 32)
    # The negative prompt may be the long one: both get its number of chunks.
    assert steps.encode_prompt(tiny_pipe, "jazz", negative_prompt="drums " * 80).cond.shape == (1, 154, 32)


def test_long_prompts_do_not_repeat_transformers_false_warning(tiny_pipeline_dir):
    # transformers warns that a sequence is "longer than the specified maximum sequence length" once per tokenizer:
    # a fresh one, with transformers' warnings on, shows whether riffnb's tokenizing would log it.
    import logging

    from transformers import CLIPTokenizer
    from transformers.utils import logging as transformers_logging

    tokenizer = CLIPTokenizer.from_pretrained(tiny_pipeline_dir / "tokenizer")
    records: list[logging.LogRecord] = []
    recorder = logging.Handler()
    recorder.emit = records.append
    library = logging.getLogger("transformers")
    verbosity = transformers_logging.get_verbosity()
    library.addHandler(recorder)
    transformers_logging.set_verbosity_warning()
    try:
        ids, _ = prompts.tokenize_weighted(tokenizer, "jazz piano " * 45)
        from_riffnb = [record.getMessage() for record in records]
        tokenizer("jazz piano " * 45)  # transformers' own call still warns: the recorder hears it
    finally:
        transformers_logging.set_verbosity(verbosity)
        library.removeHandler(recorder)
    assert len(ids) == 90 > tokenizer.model_max_length and from_riffnb == []
    assert ["longer than the specified maximum" in record.getMessage() for record in records] == [True]


def test_tokenize_weighted_gives_one_weight_per_token(tiny_pipe):
    ids, weights = prompts.tokenize_weighted(tiny_pipe.pipeline.tokenizer, "[funky] (jazz piano:2)")
    assert len(ids) == len(weights) == 3
    assert weights == pytest.approx([1 / 1.1, 2.0, 2.0])


# -- schedulers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "class_name"),
    [
        ("dpm++", "dpm++", "DPMSolverMultistepScheduler"),
        ("DPM-Solver++", "dpm++", "DPMSolverMultistepScheduler"),
        ("pndm", "pndm", "PNDMScheduler"),
        ("DDIM", "ddim", "DDIMScheduler"),
        ("Euler", "euler", "EulerDiscreteScheduler"),
        ("Euler ancestral", "euler_a", "EulerAncestralDiscreteScheduler"),
        ("euler_a", "euler_a", "EulerAncestralDiscreteScheduler"),
        ("LMS", "lms", "LMSDiscreteScheduler"),
    ],
)
def test_schedulers_by_name(tiny_pipe, name, key, class_name):
    assert schedulers.scheduler_key(name) == key
    scheduler = schedulers.make_scheduler(tiny_pipe.pipeline.scheduler.config, name)
    assert type(scheduler).__name__ == class_name
    assert schedulers.scheduler_name(scheduler) == key
    # Every sampler keeps the model's noise schedule.
    for setting in ("beta_start", "beta_end", "beta_schedule", "num_train_timesteps"):
        assert scheduler.config[setting] == tiny_pipe.pipeline.scheduler.config[setting]


@pytest.mark.parametrize(
    ("class_name", "key"),
    [
        ("DPMSolverMultistepScheduler", "dpm++"),
        ("PNDMScheduler", "pndm"),
        ("DDIMScheduler", "ddim"),
        ("EulerDiscreteScheduler", "euler"),
        ("EulerAncestralDiscreteScheduler", "euler_a"),
        ("LMSDiscreteScheduler", "lms"),
        ("EulerDiscrete", "euler"),
    ],
)
def test_diffusers_class_names_as_riffusions_batch_files_use_them(class_name, key):
    assert schedulers.scheduler_key(class_name) == key
    assert schedulers.SCHEDULERS[key][0] == class_name.removesuffix("Scheduler") + "Scheduler"


def test_a_class_name_riffnb_does_not_offer_is_still_unknown():
    with pytest.raises(UnknownSchedulerError, match="unknown scheduler 'HeunDiscreteScheduler'; use one of"):
        schedulers.scheduler_key("HeunDiscreteScheduler")
    with pytest.raises(UnknownSchedulerError, match="unknown scheduler 'Scheduler'"):
        schedulers.scheduler_key("Scheduler")


def test_scheduler_settings_that_matter():
    from diffusers import PNDMScheduler

    base = PNDMScheduler(beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1).config
    assert schedulers.make_scheduler(base).config.algorithm_type == "dpmsolver++"
    assert schedulers.make_scheduler(base, "ddim").config.clip_sample is False
    assert schedulers.scheduler_name(PNDMScheduler(skip_prk_steps=True)) == "pndm"
    assert schedulers.scheduler_name(PNDMScheduler(skip_prk_steps=False)) == "PNDMScheduler"


def test_unknown_scheduler_lists_the_choices():
    with pytest.raises(UnknownSchedulerError, match="unknown scheduler 'heun'; use one of dpm\\+\\+, pndm, ddim, euler, euler_a, lms"):
        schedulers.scheduler_key("heun")
    with pytest.raises(UnknownSchedulerError, match="must be a string"):
        schedulers.scheduler_key(3)


def test_weighting_survives_embeddings_with_zero_mean(tiny_pipe):
    import copy

    encoder = copy.deepcopy(tiny_pipe.pipeline.text_encoder)
    with torch.no_grad():
        final_layer_norm_bias(encoder).zero_()
    tokenizer = tiny_pipe.pipeline.tokenizer
    plain, weighted = (prompts.encode_weighted(tokenizer, encoder, [text])[0] for text in ("jazz", "(jazz:1.5)"))
    assert torch.isfinite(weighted).all()
    assert torch.allclose(weighted[0, 1], 1.5 * plain[0, 1]) and torch.equal(weighted[0, 2:], plain[0, 2:])
