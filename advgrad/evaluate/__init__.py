"""What is measured on trained MNIST nets: the FGSM transfer attack, white-box robustness, Figures 2-3."""
