"""Benchmarks: MNIST training throughput against a plain PyTorch loop (`benchmarks.throughput`),
and the cost of an up-to-date `dvc repro` on the full stage graph (`benchmarks.dvc_noop`)."""
