"""Real scikit-learn members with a record of where they ran, for the tests.

They live in an importable module, so that joblib's worker processes can
unpickle them.
"""

import os

from sklearn.linear_model import LogisticRegression


class ProcessRecordingLogisticRegression(LogisticRegression):
    """A logistic regression that stores the id of the process that fitted it."""

    def fit(self, X, y, sample_weight=None):
        self.fit_process_id_ = os.getpid()
        return super().fit(X, y, sample_weight=sample_weight)
