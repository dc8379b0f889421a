"""Training riffnb's tiny text-to-music model from scratch, on music riffnb composes itself.

- :mod:`riffnb.train.captions`: what a clip is (:class:`~riffnb.train.captions.ClipSpec`) and captions for it
- :mod:`riffnb.train.corpus`: the seeded corpus of rendered clips and their spectrogram images
- :mod:`riffnb.train.tokenizer`: a CLIP tokenizer for the caption vocabulary
- :mod:`riffnb.train.models`: the autoencoder, text encoder and UNet at their tiny sizes
- :mod:`riffnb.train.train`: the resumable training recipe and the export to a diffusers folder
- :mod:`riffnb.train.evaluate`: prompt adherence, measured by classifiers trained on the corpus only

Run it with ``python -m riffnb.train`` (``--smoke`` for a one-minute toy run).
"""
