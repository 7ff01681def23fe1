"""The Bayesian model: its spec, priors, internal units, transforms and PyMC graph."""
