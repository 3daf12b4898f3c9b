"""CLReg Lab core: data, models, unlearning, metrics. Imports no UI code."""

__version__ = "0.1.0"
