"""The Kubeflow face's errors: upstream's `{code, message}`, and a missing required field is a 422 whose
code still says "Bad Request", as upstream's does."""

from __future__ import annotations

from modelshelf import errors
from modelshelf.api.errors import STATUSES, Face, code_message


def _body(status: int, message: str) -> bytes:
    return code_message(400 if status == 422 else status, message)


KUBEFLOW = Face("kubeflow", _body, [(errors.MissingField, 422), *STATUSES])
