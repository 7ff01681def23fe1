"""scikit-learn-style estimators: GaussianMixtureEM (em), BayesianGMM (bayesian, with its
mixins by topic: post_process, predictive, impute, summary, persistence), and what the
facades share (base)."""
