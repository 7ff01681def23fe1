"""Numpy maths of Gaussian mixtures shared by EM and the Bayesian fits: covariance
structures, densities, draws, missing values, weights and labels."""
