"""modelshelf: a self-hosted model registry that speaks the Kubeflow Model Registry and DVC Studio APIs."""

__version__ = "0.1.0"
