"""MNIST and Fashion-MNIST (Table 2): the MLP and its stacked form, its training, its data.
Imports advgrad.core only."""
