"""Meaning: the Keras catalog, the checks that turn syntax into `kdsl.ir`, static shapes."""
