"""Targets: energies in kT, scores, exact samplers, frozen references and metric specs.

Built-in with exact samplers and known log Z: ``gmm4``, ``double_well``, ``banana``
(2-D), ``gmm40`` (2-D, 40 modes), ``funnel`` (10-D), ``many_well`` (32-D); and
``logreg_cancer`` (31-D Bayesian logistic regression, reference by checked long MALA);
particle systems ``dw4`` (8-D) and ``lj13`` (39-D), references by checked parallel
tempering; ``aldp`` (66-D alanine dipeptide through OpenMM, optional extra ``molecules``),
reference by checked replica-exchange MD; six real posteriors from posteriordb
(``pdb_eight_schools``, ``pdb_diamonds``, ``pdb_ark``, ``pdb_blr``, ``pdb_gp_pois_regr``,
``pdb_gauss_mix``), references from posteriordb's published NUTS draws.
"""

from boltzbench.targets import (  # noqa: F401  (registration)
    aldp,
    banana,
    double_well,
    ethanol,
    funnel,
    gmm,
    gmm40,
    logreg,
    many_well,
    particles,
    posteriordb,
)
from boltzbench.targets.base import BaseTarget
from boltzbench.targets.reference import Reference, get_reference

__all__ = ["BaseTarget", "Reference", "get_reference"]
