import grpc
import pytest

from xmodal_server import errors as E
from xmodal_server.api.errors import status_for


@pytest.mark.parametrize("exc, code", [
    (E.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (E.NotFound, grpc.StatusCode.NOT_FOUND),
    (E.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (E.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (E.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (E.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (E.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (E.Internal, grpc.StatusCode.INTERNAL),
])
def test_each_domain_error_maps_to_one_status(exc, code):
    assert status_for(exc("x")) == code


def test_unknown_exceptions_are_internal():
    assert status_for(KeyError("x")) == grpc.StatusCode.INTERNAL


def test_with_item_prefixes_the_item_and_keeps_the_type():
    e = E.InvalidInput("image is truncated").with_item("items[3] (id 'a')")
    assert isinstance(e, E.InvalidInput) and str(e) == "items[3] (id 'a'): image is truncated"


def test_the_domain_knows_nothing_of_grpc():
    """The status table lives at the gRPC edge (api/errors.py); below it, only the vocabulary."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(E.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.split(".")[0] == "grpc" for m in imported), imported
