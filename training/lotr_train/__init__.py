"""LOTR (Localization Transformer) training package for lotr-edge.

Modules: config (presets), model, losses, geometry (crop rule), data (readers,
augmentation), metrics, macs, train, evaluate, export, dumps.
"""
__version__ = "0.1.0"
