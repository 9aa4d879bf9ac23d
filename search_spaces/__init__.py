"""Search-space modules: one model family each, in keras-tuner's vocabulary.

See :mod:`autokeras_lab.spaces` for the protocol every module here follows.
"""
