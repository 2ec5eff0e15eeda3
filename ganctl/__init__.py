"""ganctl: train GANs and turn them into pictures, animations and honest quality numbers."""

__version__ = "0.1.0"
