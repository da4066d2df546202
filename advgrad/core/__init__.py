"""The shared core: the method (algorithm1, adversarial), the one training loop, dropout, evaluation,
the statistic over seeds, files (io, checkpoint) and shared names. Imports nothing else of advgrad."""
