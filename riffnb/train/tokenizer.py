"""A CLIP tokenizer for the tiny model, built offline from the caption grammar's vocabulary.

Riffusion's text encoder reads CLIP byte-level BPE tokens. The tiny model uses the same tokenizer class
(:class:`transformers.CLIPTokenizer`) with a vocabulary written here: the 256 byte symbols (alone and as word
ends, so any text still tokenizes, letter by letter), plus one merge chain per caption word that builds the word
from its letters. Every word of :func:`riffnb.train.captions.vocabulary` therefore becomes exactly one token, and
the embedding table stays small (about 1.2k rows instead of CLIP's 49k).

Examples
--------
>>> import tempfile
>>> tokenizer = build_tokenizer(tempfile.mkdtemp())                   # doctest: +SKIP
>>> tokenizer.tokenize("bossa nova with electric guitar")             # doctest: +SKIP
['bossa</w>', 'nova</w>', 'with</w>', 'electric</w>', 'guitar</w>']
"""

from __future__ import annotations

import json
import os
import typing as T
from pathlib import Path

from .captions import vocabulary

if T.TYPE_CHECKING:
    from transformers import CLIPTokenizer

#: CLIP's context length: prompts are padded or cut to this many tokens.
MODEL_MAX_LENGTH = 77
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each of the 256 bytes, in byte order.

    Byte-level BPE works on these characters so that every input, in any script, maps to known symbols.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols = {}
    extra = 0
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def _bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    # CLIP's BPE: repeatedly merge the lowest-ranked adjacent pair; the last symbol carries the word end.
    pieces = list(word[:-1]) + [word[-1] + "</w>"]
    while len(pieces) > 1:
        pairs = [(ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        ranked = [(rank, i) for rank, i in pairs if rank is not None]
        if not ranked:
            break
        _, i = min(ranked)
        pieces = pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2 :]
    return pieces


def vocabulary_files(words: T.Iterable[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The ``vocab.json`` mapping and the ordered merges that make each of ``words`` a single token.

    Merges are added word by word, left to right; a later word can meet an earlier word's merges first, so the
    result is checked with CLIP's BPE rule and any word left in pieces gets merges that join those pieces (which
    rank last, so they cannot break a word that already works). This repeats until every word is whole.
    """
    symbols = byte_symbols()
    vocab: dict[str, int] = {}
    for token in [BOS, EOS] + symbols + [symbol + "</w>" for symbol in symbols]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}

    def add_merges(pieces: list[str]) -> None:
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            if pair not in ranks:
                ranks[pair] = len(merges)
                merges.append(pair)
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))

    words = sorted(set(words))
    for word in words:
        add_merges(list(word[:-1]) + [word[-1] + "</w>"])
    for _ in range(10):
        broken = [(word, pieces) for word in words if len(pieces := _bpe(word, ranks)) > 1]
        if not broken:
            break
        for _, pieces in broken:
            add_merges(pieces)
    else:
        raise RuntimeError("could not find merges that keep every vocabulary word whole")
    return vocab, merges


def write_tokenizer_source(folder: str | os.PathLike, words: T.Iterable[str] | None = None) -> Path:
    """Write ``vocab.json`` and ``merges.txt`` for ``words`` (default: the caption vocabulary) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = vocabulary_files(vocabulary() if words is None else words)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    return folder


def build_tokenizer(folder: str | os.PathLike, words: T.Iterable[str] | None = None) -> "CLIPTokenizer":
    """A :class:`~transformers.CLIPTokenizer` for ``words`` (default: the caption vocabulary), written to ``folder``.

    ``folder`` keeps the ``vocab.json``/``merges.txt`` source; save the tokenizer into a pipeline with
    ``save_pretrained``.
    """
    from transformers import CLIPTokenizer

    folder = write_tokenizer_source(folder, words)
    # from_pretrained reads vocab.json + merges.txt under both the slow and the tokenizers-backed CLIP classes.
    return CLIPTokenizer.from_pretrained(folder, model_max_length=MODEL_MAX_LENGTH)


__all__ = ["MODEL_MAX_LENGTH", "build_tokenizer", "byte_symbols", "vocabulary_files", "write_tokenizer_source"]
