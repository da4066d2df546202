"""advgrad: a reproduction of Nøkland (2015), "Improving Back-Propagation by Adding an
Adversarial Gradient" (arXiv 1510.04189).

The library knows nothing of DVC or of the repository's file layout; `stages/` does.
"""

__version__ = "0.1.0"
