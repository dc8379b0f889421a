"""Weighted prompts, Riffusion's syntax: ``(word:1.3)`` multiplies a word's weight, ``(word)`` by 1.1, ``[word]``
divides it by 1.1; brackets nest and multiply; ``\\(`` is a literal bracket. Up to 3 x 75 tokens.

A weight scales the word's CLIP token embeddings, and the whole sequence is then rescaled to keep its mean, as
Riffusion's pipeline does (unless that mean is about zero, where the ratio would be meaningless). Longer prompts are split into chunks of 75 tokens, each encoded as its own 77-token CLIP
sequence (start token, chunk, end token, padding) and concatenated: the UNet's cross-attention takes any length.
A prompt without weights that fits in 75 tokens gives exactly what diffusers' own ``encode_prompt`` gives.
"""

from __future__ import annotations

import re
import typing as T
import warnings

from ..errors import RiffnbError

if T.TYPE_CHECKING:
    import torch

#: Riffusion's multiplier for one pair of round brackets (and its inverse for square brackets).
BRACKET_WEIGHT = 1.1

#: At most this many 75-token chunks of prompt (Riffusion: 3 x 77 tokens with start and end).
MAX_CHUNKS = 3

_TOKEN = re.compile(
    r"""
    \\[()\[\]\\]          # escaped bracket or backslash: literal
    | \(                  # open round
    | \[                  # open square
    | :\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)   # explicit weight closing a round bracket
    | \)                  # close round
    | \]                  # close square
    | [^\\()\[\]:]+       # plain text
    | [\\:]               # a lone backslash or colon: literal
    """,
    re.VERBOSE,
)


class PromptError(RiffnbError):
    """A prompt that cannot be used (not text)."""


def parse_weighted_prompt(text: str) -> list[tuple[str, float]]:
    """Split ``text`` into ``(fragment, weight)`` pairs by Riffusion's bracket syntax.

    Unclosed brackets apply to the rest of the prompt; a stray closing bracket is kept as text.

    Examples
    --------
    >>> parse_weighted_prompt("a (jazz:1.5) piano [solo]")
    [('a ', 1.0), ('jazz', 1.5), (' piano ', 1.0), ('solo', 0.9090909090909091)]
    >>> parse_weighted_prompt("((drums)) \\\\(live\\\\)")
    [('drums', 1.2100000000000002), (' (live)', 1.0)]
    """
    if not isinstance(text, str):
        raise PromptError(f"a prompt must be a string, got {type(text).__name__}; pass text such as 'jazz piano'")
    pieces: list[list] = []  # [text, weight]
    open_round: list[int] = []
    open_square: list[int] = []

    def scale(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= factor

    for match in _TOKEN.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\") and len(token) == 2:
            pieces.append([token[1], 1.0])
        elif token == "(":
            open_round.append(len(pieces))
        elif token == "[":
            open_square.append(len(pieces))
        elif weight is not None and open_round:
            scale(open_round.pop(), float(weight))
        elif token == ")" and open_round:
            scale(open_round.pop(), BRACKET_WEIGHT)
        elif token == "]" and open_square:
            scale(open_square.pop(), 1 / BRACKET_WEIGHT)
        else:
            pieces.append([token, 1.0])
    for start in open_round:
        scale(start, BRACKET_WEIGHT)
    for start in open_square:
        scale(start, 1 / BRACKET_WEIGHT)
    merged: list[tuple[str, float]] = []
    for fragment, weight in pieces:
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + fragment, weight)
        elif fragment:
            merged.append((fragment, weight))
    return merged or [("", 1.0)]


def tokenize_weighted(tokenizer, text: str, max_chunks: int = MAX_CHUNKS) -> tuple[list[int], list[float]]:
    """Token ids (without start/end tokens) and one weight per token for a weighted prompt.

    Tokens beyond ``max_chunks`` x 75 are dropped with a warning.
    """
    ids: list[int] = []
    weights: list[float] = []
    for fragment, weight in parse_weighted_prompt(text):
        # Not verbose: transformers would warn that a fragment is longer than CLIP's 77 tokens, which riffnb
        # handles by encoding the prompt in chunks.
        fragment_ids = tokenizer(fragment, add_special_tokens=False, truncation=False, verbose=False).input_ids
        ids += fragment_ids
        weights += [weight] * len(fragment_ids)
    limit = max_chunks * (tokenizer.model_max_length - 2)
    if len(ids) > limit:
        warnings.warn(
            f"the prompt is {len(ids)} tokens long; riffnb uses the first {limit} ({max_chunks} x "
            f"{tokenizer.model_max_length - 2}), shorten it to keep the end",
            stacklevel=3,
        )
    return ids[:limit], weights[:limit]


def _chunked(tokenizer, ids: list[int], weights: list[float], num_chunks: int) -> tuple[list[list[int]], list[list[float]]]:
    # Each chunk is a complete CLIP sequence: start, up to 75 tokens, end, padding to 77.
    size = tokenizer.model_max_length - 2
    chunk_ids, chunk_weights = [], []
    for i in range(num_chunks):
        part, part_weights = ids[i * size : (i + 1) * size], weights[i * size : (i + 1) * size]
        padding = size - len(part)
        chunk_ids.append([tokenizer.bos_token_id] + part + [tokenizer.eos_token_id] + [tokenizer.pad_token_id] * padding)
        chunk_weights.append([1.0] + part_weights + [1.0] + [1.0] * padding)
    return chunk_ids, chunk_weights


def encode_weighted(
    tokenizer, text_encoder, prompts: T.Sequence[str], max_chunks: int = MAX_CHUNKS
) -> "list[torch.Tensor]":
    """CLIP embeddings ``(1, 77 * chunks, width)`` for each weighted prompt, all with the same number of chunks.

    All prompts get as many chunks as the longest needs, so a prompt and its negative prompt can be batched.
    """
    import torch

    tokenized = [tokenize_weighted(tokenizer, prompt, max_chunks) for prompt in prompts]
    size = tokenizer.model_max_length - 2
    num_chunks = max(1, *((len(ids) + size - 1) // size for ids, _ in tokenized))
    device = text_encoder.device
    embeddings = []
    for ids, weights in tokenized:
        chunk_ids, chunk_weights = _chunked(tokenizer, ids, weights, num_chunks)
        with torch.no_grad():
            chunks = [text_encoder(torch.tensor([c], device=device), attention_mask=None)[0] for c in chunk_ids]
        embedding = torch.cat(chunks, dim=1).to(dtype=text_encoder.dtype)
        flat_weights = [w for chunk in chunk_weights for w in chunk]
        if any(w != 1.0 for w in flat_weights):
            weight = torch.tensor(flat_weights, device=device, dtype=embedding.dtype)[None, :, None]
            mean_before = embedding.float().mean()
            embedding = embedding * weight
            mean_after = embedding.float().mean()
            # A mean near zero (an untrained final layer norm) would make the ratio explode; nothing to keep then.
            if mean_after.abs() > 1e-4 * embedding.float().abs().mean():
                embedding = embedding * (mean_before / mean_after).to(embedding.dtype)
        embeddings.append(embedding)
    return embeddings
