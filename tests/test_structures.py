"""The covariance-structure registry (bayesgmm.mixture.structures): every structure's maths
against its full matrices, names and aliases, an EM-only entry, and a search of the package
source for branches on the structure's name outside the registry."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayesgmm
from bayesgmm import em
from bayesgmm.mixture import structures as registry
from bayesgmm.mixture.covariance import ComponentDensity, as_full, log_gaussian_prob
from bayesgmm.mixture.structures import (
    bayesian_structure,
    check_covariance_type,
    get_structure,
    structure_from_shape,
)
from bayesgmm.mixture.structures.scatter import ScatterStructure

PACKAGE = Path(bayesgmm.__file__).parent
REGISTRY = PACKAGE / "mixture" / "structures"
NAMES = {name for s in registry.structures() for name in (s.name, *s.aliases)}
# mclust's names, so that an entry added later is already covered by the search.
NAMES |= {"EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV", "VEV"}
NAMES |= {"EVV", "VVV"}


# ---------------------------------------------------------------------------------------
# No branch on a structure's name outside the registry
# ---------------------------------------------------------------------------------------


def _is_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in NAMES


def _names_in(node: ast.AST) -> int:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return sum(_is_name(e) for e in node.elts)
    return int(_is_name(node))


def name_branches(source: str) -> list[tuple[int, str]]:
    """(line, code) of every comparison with a structure's name (``== "full"``,
    ``in ("full", "tied")``), dict keyed by names, ``match`` case on one, and tuple or
    list of two or more names (an option list declared again) in ``source``.

    Comparisons naming ``mass_matrix`` are left out: nutpie's ``"diag"`` mass matrix is
    not a covariance structure.
    """
    tree = ast.parse(source)
    operands: set[int] = set()
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands.update(id(o) for o in (node.left, *node.comparators))
    for node in ast.walk(tree):
        if id(node) in operands:
            continue
        if isinstance(node, ast.Compare):
            bad = any(_names_in(o) for o in (node.left, *node.comparators))
            bad = bad and "mass_matrix" not in ast.unparse(node)
        elif isinstance(node, ast.Dict):
            bad = any(k is not None and _is_name(k) for k in node.keys)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            bad = _names_in(node) >= 2
        elif isinstance(node, ast.match_case):
            bad = any(_is_name(n) for n in ast.walk(node.pattern))
        else:
            bad = False
        if bad:
            line = getattr(node, "lineno", None) or node.pattern.lineno  # type: ignore[attr-defined]
            hits.append((line, ast.unparse(node).splitlines()[0]))
    return hits


@pytest.mark.timeout(60)
def test_no_module_outside_the_registry_branches_on_a_structure_name() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if REGISTRY in path.parents:
            continue
        for line, code in name_branches(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {code}")
    assert not found, "ask the structure (bayesgmm.mixture.structures) instead:\n" + "\n".join(
        found
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "source",
    [
        'if covariance_type == "full":\n    pass',
        'x = cov_type in ("diag", "spherical")',
        'shape = {"full": 1, "tied": 2}[kind]',
        'if kind != "EEE":\n    pass',
        'TYPES = ("full", "tied", "diag", "spherical")',
        'match kind:\n    case "tied":\n        pass',
    ],
)
def test_the_search_finds_each_kind_of_branch(source: str) -> None:
    assert len(name_branches(source)) == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "source",
    [
        'fit(X, covariance_type="full")',  # using a structure is not branching on it
        'low_rank = mass_matrix != "diag"',
        "if structure.shared:\n    pass",
    ],
)
def test_the_search_leaves_uses_alone(source: str) -> None:
    assert name_branches(source) == []


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("alias", "name"), [("VVV", "full"), ("EEE", "tied"), ("VVI", "diag"), ("VII", "spherical")]
)
def test_mclust_names_are_aliases(alias: str, name: str) -> None:
    assert check_covariance_type(alias) == name
    assert get_structure(alias) is get_structure(name)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bad", ["banana", "Full", None, 3])
def test_an_unknown_name_lists_the_accepted_ones(bad: object) -> None:
    with pytest.raises(ValueError, match=r"covariance_type must be one of 'full' \(or 'VVV'\)"):
        get_structure(bad)  # type: ignore[arg-type]


@pytest.mark.timeout(30)
def test_a_name_cannot_be_registered_twice() -> None:
    class Clash(ScatterStructure):
        name = "clash"
        aliases = ("VVV",)

    with pytest.raises(ValueError, match="'VVV' is taken"):
        registry.register(Clash())


@pytest.mark.timeout(30)
def test_shape_alone_names_the_storage_or_says_it_is_ambiguous() -> None:
    assert structure_from_shape((3, 2, 2), 3, 2).name == "full"
    assert structure_from_shape((3,), 3, 2).name == "spherical"
    assert structure_from_shape((2, 2), 3, 2).name == "tied"
    with pytest.raises(ValueError, match="because K == D"):
        structure_from_shape((2, 2), 2, 2)
    with pytest.raises(ValueError, match="expected one of"):
        structure_from_shape((4, 4), 3, 2)


# ---------------------------------------------------------------------------------------
# Every structure's maths against its full matrices
# ---------------------------------------------------------------------------------------


def _random_covariances(structure, k: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Covariances in the structure's storage, from an SPD draw projected onto it."""
    full = []
    for _ in range(k):
        a = rng.normal(size=(d, d))
        full.append(a @ a.T + d * np.eye(d))
    full = np.stack(full)
    variances = np.diagonal(full, axis1=1, axis2=2)
    shape = structure.shape(k, d)
    if shape == (k, d, d):
        return full
    if shape == (d, d):
        return full[0]
    if shape == (k, d):
        return variances
    return variances.mean(axis=1)


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None)
@given(
    index=st.integers(0, len(registry.structures()) - 1),
    k=st.integers(1, 4),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_structure_maths_agree_with_full_matrices(index: int, k: int, d: int, seed: int) -> None:
    structure = registry.structures()[index]
    rng = np.random.default_rng(seed)
    if structure.shape(k, d) == (d, d) and k == d:
        k += 1  # keep the storages distinct for the projection helper
    cov = _random_covariances(structure, k, d, rng)
    full = structure.as_full(cov, k, d)
    assert full.shape == (k, d, d)
    np.testing.assert_allclose(full, np.swapaxes(full, 1, 2))
    prec_chol = structure.precisions_cholesky(cov, 0.0)
    # inv(Sigma) = U U^T, and back again
    precision = as_full(structure.precisions(prec_chol), structure.name, k, d)
    np.testing.assert_allclose(precision @ full, np.broadcast_to(np.eye(d), (k, d, d)), atol=1e-9)
    np.testing.assert_allclose(structure.covariances_from_precisions_cholesky(prec_chol), cov)
    # log det U = -1/2 log det Sigma
    log_det = np.broadcast_to(structure.log_det_precisions_cholesky(prec_chol, d), (k,))
    np.testing.assert_allclose(log_det, -0.5 * np.linalg.slogdet(full)[1], rtol=1e-10)
    # the density against scipy-free maths on the full matrices
    X = rng.normal(size=(7, d)) * 3.0
    means = rng.normal(size=(k, d))
    centred = X[None] - means[:, None]  # (K, N, D)
    maha = np.einsum("knd,kde,kne->kn", centred, np.linalg.inv(full), centred)
    expected = -0.5 * (maha + np.linalg.slogdet(full)[1][:, None] + d * np.log(2 * np.pi))
    got = log_gaussian_prob(X, means, prec_chol, structure.name, component_major=True)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    n_free = structure.n_parameters(k, d)
    assert 0 < n_free <= k * d * (d + 1) // 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", registry.BAYESIAN_COVARIANCE_TYPES)
def test_bayesian_layout_round_trips_the_sds(name: str) -> None:
    # The sds the likelihood reads (a volume-shape layout's are those of its volume and shape).
    layout = bayesian_structure(name).bayesian.sd_layout
    k, d = 3, 2
    stds = np.arange(1.0, 1.0 + np.prod(layout.std_shape(k, d))).reshape(layout.std_shape(k, d))
    expanded = layout.std_matrix(stds)
    assert expanded.shape == layout.std_shape_2d(k, d)
    np.testing.assert_array_equal(layout.stds_from_matrix(np.broadcast_to(expanded, (k, d))), stds)


# ---------------------------------------------------------------------------------------
# A structure that EM alone fits
# ---------------------------------------------------------------------------------------


def _eii_m_step(nk, means, scatter, reg_covar, prior, previous):
    """mclust's EII: one variance for every component and feature, lambda I."""
    n_features = means.shape[1]
    variance = np.trace(scatter.sum(axis=0)) / (n_features * nk.sum())
    return np.broadcast_to((variance + reg_covar) * np.eye(n_features), scatter.shape).copy()


class _EqualSpherical(ScatterStructure):
    name = "test_eii"
    aliases: ClassVar[tuple[str, ...]] = ("TEST_EII",)
    description = "lambda I, shared (a test entry)"
    shared = True
    m_step = staticmethod(_eii_m_step)
    n_covariance_parameters = staticmethod(lambda k, d: 1)


@pytest.fixture
def em_only(monkeypatch: pytest.MonkeyPatch) -> str:
    structure = _EqualSpherical()
    monkeypatch.setattr(registry, "_BY_NAME", dict(registry._BY_NAME))
    monkeypatch.setattr(registry, "_CANONICAL", list(registry._CANONICAL))
    registry.register(structure)
    return structure.name


@pytest.mark.timeout(60)
def test_an_em_only_entry_fits_by_em(em_only: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * np.array([1.0, 2.0, 3.0])
    fit = em.fit_em(X, 1, em_only, reg_covar=0.0, random_seed=0)
    # K = 1: the maximum-likelihood lambda is the mean of the feature variances (ddof 0).
    expected = X.var(axis=0).mean() * np.eye(3)
    np.testing.assert_allclose(fit.covariances[0], expected, rtol=1e-10)
    assert em.bic(fit) == pytest.approx(-2 * fit.log_likelihood + (0 + 3 + 1) * np.log(200))
    two = em.fit_em(X, 2, "TEST_EII", random_seed=0)
    np.testing.assert_allclose(two.covariances[0], two.covariances[1])
    density = ComponentDensity(two.means, two.precisions_cholesky, em_only)
    assert density(X).shape == (200, 2)


@pytest.mark.timeout(60)
def test_the_bayesian_fits_refuse_an_em_only_entry(em_only: str) -> None:
    from bayesgmm import BayesianGMM
    from bayesgmm.bayes.model.graph import build_model

    X = np.random.default_rng(1).normal(size=(50, 2))
    message = r"covariance_type='test_eii' is fitted by EM only"
    with pytest.raises(ValueError, match=message):
        build_model(X, 2, em_only)
    with pytest.raises(ValueError, match=message):
        BayesianGMM(n_components=2, covariance_type="TEST_EII").fit(X)


# ---------------------------------------------------------------------------------------
# mclust's family: one entry per structure
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_each_of_mclusts_fourteen_names_is_one_entry() -> None:
    from bayesgmm.mixture.structures.family import MclustStructure

    names = registry.mclust_family()
    assert len(names) == 14
    entries = [get_structure(name) for name in names]
    assert len({id(entry) for entry in entries}) == 14
    assert [entry.mclust_name for entry in entries] == list(names)
    new = [entry for entry in entries if isinstance(entry, MclustStructure)]
    assert sorted(entry.name for entry in new) == sorted(set(names) - {"VVV", "EEE", "VVI", "VII"})
    assert all(entry.name in registry.COVARIANCE_TYPES for entry in new)
    bayesian = {entry.name for entry in new if entry.bayesian is not None}
    assert {"EII", "EEI"} <= bayesian <= {"EII", "EEI", "VEI", "EVI", "VEE", "EVV", "EEV", "VEV"}
    assert all((entry.kernel_code is None) == (entry.bayesian is None) for entry in new)
    # mclust's priorControl: EII, EEI, VEI, EVI, EEV, VEV (none for EVE, VEE, VVE, EVV)
    takes = [entry.name for entry in new if entry.takes_prior]
    assert takes == ["EII", "EEI", "VEI", "EVI", "EEV", "VEV"]


@pytest.mark.timeout(30)
def test_one_dimensional_names_need_one_feature() -> None:
    assert check_covariance_type("E", 1) == "tied"
    assert check_covariance_type("V") == "full"
    with pytest.raises(ValueError, match="mclust's name for 1-D data, and X has 3 features"):
        check_covariance_type("V", 3)
    assert registry.mclust_family(10, 1) == ("E", "V")
    assert all(name.endswith("I") for name in registry.mclust_family(3, 5))


class _Recorder(ScatterStructure):
    name = "test_recorder"
    seen: ClassVar[list] = []
    n_covariance_parameters = staticmethod(lambda k, d: k * d * (d + 1) // 2)

    @staticmethod
    def m_step(nk, means, scatter, reg_covar, prior, previous):
        _Recorder.seen.append(previous)
        return scatter / nk[:, None, None] + reg_covar * np.eye(scatter.shape[-1])


@pytest.mark.timeout(60)
def test_the_m_step_gets_the_last_covariances_of_its_own_structure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bayesgmm.em.steps import m_step, sufficient_statistics

    monkeypatch.setattr(registry, "_BY_NAME", dict(registry._BY_NAME))
    monkeypatch.setattr(registry, "_CANONICAL", list(registry._CANONICAL))
    registry.register(_Recorder())
    _Recorder.seen.clear()
    X = np.random.default_rng(2).normal(size=(60, 2))
    fit = em.fit_em(X, 2, "full", init="kmeans++", random_seed=0)
    stats = sufficient_statistics(X, fit.params)
    first = m_step(stats, "test_recorder", previous=fit.params)  # another structure: none
    second = m_step(stats, "test_recorder", previous=first)  # its own: its covariances
    assert _Recorder.seen[0] is None
    np.testing.assert_array_equal(_Recorder.seen[1], first.covariances)
    assert second.covariance_type == "test_recorder"


@pytest.mark.timeout(60)
def test_the_bayesian_model_refuses_mclusts_em_only_structures() -> None:
    from bayesgmm.bayes.model.graph import build_model

    X = np.random.default_rng(1).normal(size=(50, 2))
    with pytest.raises(ValueError, match=r"covariance_type='VVE' is fitted by EM only"):
        build_model(X, 2, "VVE")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["EVE", "VVE"])
def test_an_own_orientation_is_refused_with_where_the_evidence_is(name: str) -> None:
    # EVE, VVE: an orthogonal orientation shared by per-component shapes (EEV and VEV,
    # one orientation per component, have a Bayesian model for D <= 4); the message
    # says why and points to the docs section with the calibration measured.
    with pytest.raises(ValueError, match=r"orthogonal matrix of its own") as refused:
        bayesian_structure(name)
    message = str(refused.value)
    assert f"covariance_type={name!r} is fitted by EM only" in message
    assert "docs/mclust.md, section 'The Bayesian model'" in message
    assert "GaussianMixtureEM" in message


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "own"),
    [("EVE", True), ("VVE", True), ("EEV", True), ("VEV", True)]
    + [(name, False) for name in ("EII", "EEI", "VEI", "EVI", "VEE", "EVV")],
)
def test_own_orientation_is_an_orientation_not_tied_to_the_shape(name: str, own: bool) -> None:
    # Shared or absent orientations, and those tied to the shape (VEE: one DAD^T; EVV:
    # one det-1 matrix per component), are not the four the Bayesian model refuses.
    assert get_structure(name).own_orientation is own
