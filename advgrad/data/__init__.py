"""The official dataset files: where they come from (`sources`), their formats (`idx` for
MNIST-format files, `cifar` for the CIFAR-10 tar) and their verified download (`fetch`).
Preprocessing and loading live with each family (`advgrad.mnist.data`, `advgrad.cifar.data`).
"""
