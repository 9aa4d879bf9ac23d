"""Bundled experiment files (``NAME.toml``); see :mod:`autokeras_lab.config`."""
