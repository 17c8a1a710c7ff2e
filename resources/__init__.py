"""Bundled data of gan3d-studio: default models (with model cards), icons, examples."""
