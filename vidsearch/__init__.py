"""vidsearch: near-duplicate and text-to-video retrieval, served on Triton + Qdrant."""

__version__ = "0.1.0"
