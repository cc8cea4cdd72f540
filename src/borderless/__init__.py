"""borderless: federated, parameter-efficient tuning of multilingual language models.

``borderless.load(run_dir)`` gives a finished run's trained models (``borderless.trained_model``).
Importing the package loads nothing heavy: the Flower per-message path imports it.
"""


def load(path, paradigm=None, backbone=None):
    """A finished run's models of one paradigm (federated by default): ``.predict(texts, language=)``,
    ``.predict_proba(...)``. See ``borderless.trained_model``."""
    from borderless.trained_model import load as _load

    return _load(path, paradigm, backbone)
