"""Data files shipped with the package (the pretrained model)."""
