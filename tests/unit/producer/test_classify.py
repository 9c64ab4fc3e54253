from __future__ import annotations

from failstream.producer.classify import classify, set_failure_reason


def test_401_without_credentials_is_a_missing_token() -> None:
    assert classify(401, False, None) == "missing_token"


def test_401_with_credentials_is_an_invalid_token() -> None:
    assert classify(401, True, None, 'Bearer error="invalid_token"') == "invalid_token"


def test_an_rfc6750_expired_challenge_makes_it_an_expired_token() -> None:
    challenge = 'Bearer error="invalid_token", error_description="The access token expired"'
    assert classify(401, True, None, challenge) == "expired_token"


def test_the_hosts_own_reason_wins() -> None:
    assert classify(401, True, "expired_token") == "expired_token"


def test_an_unknown_host_reason_becomes_other_instead_of_breaking_the_contract() -> None:
    assert classify(401, True, "tokn_expird") == "other"


def test_statuses_map_to_reasons() -> None:
    assert [classify(s, True, None) for s in (403, 429, 500, 422, 404, 418)] == [
        "forbidden",
        "rate_limited",
        "server_error",
        "validation_error",
        "not_found",
        "other",
    ]


def test_set_failure_reason_writes_where_each_middleware_reads() -> None:
    scope: dict = {"type": "http"}
    set_failure_reason(scope, "expired_token")
    assert scope["state"]["failstream_reason"] == "expired_token"
    environ = {"REQUEST_METHOD": "GET", "wsgi.version": (1, 0)}
    set_failure_reason(environ, "missing_token")
    assert environ["failstream_reason"] == "missing_token"


def test_the_pydantic_free_reason_list_is_the_wire_contracts() -> None:
    from failstream import events
    from failstream.producer import reasons

    assert reasons.FAILURE_REASONS == events.FAILURE_REASONS
