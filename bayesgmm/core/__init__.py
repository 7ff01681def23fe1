"""The numpy core: EM, relabeling, the mixture density, the transforms and the internal
units. Nothing here imports PyMC, PyTensor, ArviZ or matplotlib."""
