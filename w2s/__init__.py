"""w2s-vqa: weak-to-strong video quality assessment.

The library is plain Python + numpy/scipy/torch; Ray lives in ``ray_jobs/`` and ``serve/``.
"""

__version__ = "0.1.0"
