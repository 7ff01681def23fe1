"""scikit-learn-style estimators: GaussianMixtureEM, BayesianGMM, imputation."""
