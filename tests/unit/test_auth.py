"""Bearer tokens: the token file parser, scopes per RPC, and the check itself (no server, fast)."""
import hmac

import pytest

from xmodal.v1 import collection_pb2, embedding_pb2, info_pb2, search_pb2
from xmodal_server.api import auth
from xmodal_server.errors import InvalidInput, PermissionDenied, Unauthenticated

READ_TOKEN = "r3ad-t0ken-0123456789abcdef"
WRITE_TOKEN = "wr1te-t0ken-0123456789abcdef"
FILE = f"""# tokens of the test
{READ_TOKEN} read

   {WRITE_TOKEN}    write   # the deploy job
"""


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


def test_parser_skips_comments_and_blank_lines():
    table = auth.parse_tokens(FILE)
    assert len(table) == 2 and table.counts() == {"read": 1, "write": 1}
    assert table.scope_of(READ_TOKEN) == "read" and table.scope_of(WRITE_TOKEN) == "write"
    assert table.scope_of("unknown-token-0123456789") is None and table.scope_of("") is None
    assert READ_TOKEN not in repr(table)


@pytest.mark.parametrize("text, phrase", [
    (f"{READ_TOKEN}\n", "line 1: expected '<token> <scope>' \\(2 fields\\), found 1"),
    (f"# c\n{READ_TOKEN} read extra\n", "line 2: expected"),
    (f"{READ_TOKEN} admin\n", "line 1: scope must be 'read' or 'write'"),
    (f"{READ_TOKEN} read\n{READ_TOKEN} write\n", "line 2: the same token as line 1"),
    ("# only comments\n\n", "no tokens"),
])
def test_parser_errors_name_the_line_never_the_token(text, phrase):
    with pytest.raises(InvalidInput, match=phrase) as e:
        auth.parse_tokens(text)
    assert READ_TOKEN not in str(e.value) and READ_TOKEN[:8] not in str(e.value)


def test_short_tokens_are_accepted_with_a_warning_that_does_not_show_them(caplog):
    table = auth.parse_tokens("abc123 read\n")
    assert table.scope_of("abc123") == "read"
    assert "line 1: token shorter than 16" in caplog.text and "abc123" not in caplog.text


def test_every_entry_is_compared_even_after_a_match(monkeypatch):
    table = auth.parse_tokens(FILE)
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert table.scope_of(READ_TOKEN) == "read"  # the first entry matches
    assert len(calls) == 2


def test_load_tokens_names_the_setting(tmp_path):
    with pytest.raises(InvalidInput, match="config auth_tokens_file=.*missing.txt.*cannot read it"):
        auth.load_tokens(str(tmp_path / "missing.txt"))
    f = tmp_path / "tokens"
    f.write_text(FILE)
    assert len(auth.load_tokens(str(f))) == 2


def _all_rpcs():
    for module in (embedding_pb2, collection_pb2, search_pb2, info_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                yield f"/{service.full_name}/{m.name}"


def test_every_rpc_of_the_api_has_a_declared_scope():
    rpcs = set(_all_rpcs())
    assert rpcs == auth.READ_METHODS | auth.WRITE_METHODS, "classify new RPCs in api/auth.py"
    assert not auth.READ_METHODS & auth.WRITE_METHODS
    assert {m.rsplit("/", 1)[1] for m in auth.WRITE_METHODS} == {
        "CreateCollection", "DeleteCollection", "AddItems", "DeleteItems", "ReindexCollection"}


def test_scopes_health_and_reflection_are_exempt_unknown_methods_need_write():
    assert auth.required_scope("/grpc.health.v1.Health/Check") is None
    assert auth.required_scope("/grpc.health.v1.Health/Watch") is None
    assert auth.required_scope("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") is None
    assert auth.required_scope("/xmodal.v1.SearchService/SearchByText") == "read"
    assert auth.required_scope("/xmodal.v1.CollectionService/AddItems") == "write"
    assert auth.required_scope("/xmodal.v1.FutureService/Anything") == "write"


@pytest.mark.parametrize("metadata, token", [
    ((), None),
    ((("authorization", "Bearer abc"),), "abc"),
    ((("authorization", "bearer   abc  "),), "abc"),
    ((("x-other", "1"), ("authorization", "BEARER abc")), "abc"),
    ((("authorization", "Basic abc"),), None),
    ((("authorization", "Bearer "),), None),
    ((("authorization", "abc"),), None),
])
def test_bearer_token_from_metadata(metadata, token):
    assert auth.bearer_token(metadata) == token


def test_check_outcomes():
    table = auth.parse_tokens(FILE)
    add, search = "/xmodal.v1.CollectionService/AddItems", "/xmodal.v1.SearchService/SearchByText"
    with pytest.raises(Unauthenticated, match="no bearer token.*XMODAL_TOKEN"):
        auth.check(table, search, ())
    with pytest.raises(Unauthenticated, match="not valid") as e:
        auth.check(table, search, bearer("wrong-token-0123456789"))
    assert "wrong-token" not in str(e.value)
    with pytest.raises(PermissionDenied, match="AddItems .* scope 'write'; this token has scope 'read'"):
        auth.check(table, add, bearer(READ_TOKEN))
    auth.check(table, search, bearer(READ_TOKEN))
    auth.check(table, add, bearer(WRITE_TOKEN))
    auth.check(table, search, bearer(WRITE_TOKEN))
    auth.check(table, "/grpc.health.v1.Health/Check", ())
