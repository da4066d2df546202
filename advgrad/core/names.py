"""The names the library and params.yaml share, defined once. A module of its own, imported by
stages/params.py, so that validating params does not make every stage depend on the models."""

ACTIVATIONS = ("logistic", "tanh", "relu")  # MNIST hidden units (Table 2)
NUM_CLASSES = 10  # MNIST, Fashion-MNIST and CIFAR-10
CIFAR_ARCHS = ("mlp", "conv")  # Table 3's two nets
CIFAR_PREPS = ("zca", "simple")  # Table 3's two preprocessings
CONV_DROPOUT_POSITIONS = ("before_pool", "after_pool")  # where a conv block drops units
