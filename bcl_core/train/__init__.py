"""Training: datasets from ``bcl synth`` folders, augmentation, loops and ONNX export.

Modules that need torch import it themselves; :mod:`bcl_core.train.cases`,
:mod:`~bcl_core.train.seg_dataset`, :mod:`~bcl_core.train.augment` and
:mod:`~bcl_core.train.toy` are numpy-only.
"""
