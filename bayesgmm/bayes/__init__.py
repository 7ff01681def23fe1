"""The Bayesian model: priors, the spec, the PyMC model, the compiled kernel, and the
runners (NUTS, ADVI, MAP) in :mod:`bayesgmm.bayes.inference`."""
