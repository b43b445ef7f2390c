"""Mixin with the ``predict`` method that every member classifier shares."""

import numpy as np


class PredictFromProbaMixin:
    """Mixin that predicts the label in ``classes_`` with the highest probability.

    The class must define ``classes_`` in ``fit`` and a ``predict_proba`` whose
    columns are in the order of ``classes_``.
    """

    def predict(self, X):
        """Predict the class label of each sample in ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or list of str
            Input of the kind that ``predict_proba`` accepts: a numeric table
            with the features seen in ``fit``, or one text per sample for the
            text members.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The label in ``classes_`` with the highest probability.
        """
        # predict_proba runs first, so an unfitted estimator raises its
        # NotFittedError rather than an AttributeError for classes_.
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
