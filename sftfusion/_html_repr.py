"""The members' part of SFTClassifier's HTML representation in notebooks.

scikit-learn draws an estimator as HTML by asking it for a visual block. A
"parallel" block puts the members side by side, each under its name, the way
scikit-learn draws the members of its voting and stacking ensembles.
"""

from sftfusion._compat import _VisualBlock


def members_visual_block(estimator):
    """Return a block that draws the members of ``estimator`` side by side.

    A fitted estimator shows its fitted members (``named_estimators_``), so
    that their fitted attributes appear too. An unfitted one shows the
    ``estimators`` parameter. Entries set to ``"drop"`` appear as that string.
    """
    fitted = getattr(estimator, "named_estimators_", None)
    if fitted is not None:
        names, members = list(fitted.keys()), list(fitted.values())
    else:
        names = [name for name, _ in estimator.estimators]
        members = [member for _, member in estimator.estimators]
    return _VisualBlock("parallel", members, names=names)
