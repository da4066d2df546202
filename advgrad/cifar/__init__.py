"""CIFAR-10 (Table 3): the MLP and the conv net, their training and schedule, the transforms.
Imports advgrad.core only."""
