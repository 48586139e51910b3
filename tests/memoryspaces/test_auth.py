"""API keys: the three header forms, hashed storage, revocation, and the commands that manage them."""

from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from memoryspaces.models import ApiKey, Tenant, User
from memoryspaces.selectors import api_key_usable
from memoryspaces.services import api_key_digest, split_api_key

VERSION = "/api/v2/version/"


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION=Token", "HTTP_AUTHORIZATION=Bearer", "HTTP_X_API_KEY="])
def test_each_header_form_authenticates(client, api_key, header):
    name, _, scheme = header.partition("=")
    response = client.get(VERSION, **{name: f"{scheme} {api_key}".strip()})
    assert response.status_code == 200
    assert response.json() == {"versionString": "2.49.0"}


def test_the_document_names_each_header_form_as_a_security_scheme_that_works(client, api_key):
    """Client generators and Swagger UI's "Authorize" know only what the document declares: it named the
    Authorization header alone, so neither the key alone in X-API-Key nor a Bearer token could be chosen."""
    from tests.openapi_conformance import served_schema

    document = served_schema()
    schemes = document["components"]["securitySchemes"]
    headers = {}
    for name, scheme in schemes.items():
        if scheme["type"] == "http":
            assert scheme["scheme"] == "bearer"
            headers[name] = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
        elif scheme["name"] == "Authorization":
            headers[name] = {"HTTP_AUTHORIZATION": f"Token {api_key}"}
        else:
            headers[name] = {f"HTTP_{scheme['name'].upper().replace('-', '_')}": api_key}
    assert {"HTTP_X_API_KEY"} in [set(h) for h in headers.values()]
    assert {"HTTP_AUTHORIZATION": f"Bearer {api_key}"} in headers.values()
    # any one of them is enough: each is an alternative of its own
    assert document["paths"][VERSION]["get"]["security"] == [{name: []} for name in schemes]
    for header in headers.values():
        assert client.get(VERSION, **header).status_code == 200


@pytest.mark.parametrize("headers", [
    {},
    {"HTTP_AUTHORIZATION": "Token mem_00000000_wrong"},
    {"HTTP_AUTHORIZATION": "Token garbage"},
    {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
    {"HTTP_X_API_KEY": "mem_00000000_wrong"},
    {"HTTP_AUTHORIZATION": "Token mem_\x00\x00\x00\x00\x00\x00\x00\x00_x"},  # a 500 when it reached the query
    {"HTTP_X_API_KEY": "mem_0000000\x00_wrong"},
    {"HTTP_AUTHORIZATION": "Token mem_\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9_x"},
])
def test_missing_or_bad_key_is_401_json(client, db, headers):
    response = client.get("/api/v2/memory/", **headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_a_key_with_the_right_prefix_but_wrong_secret_is_refused(client, api_key):
    forged = api_key[:-4] + ("AAAA" if not api_key.endswith("AAAA") else "BBBB")
    assert client.get(VERSION, HTTP_AUTHORIZATION=f"Token {forged}").status_code == 401


def test_keys_are_stored_hashed(api_key):
    row = ApiKey.objects.get()
    assert api_key not in {row.prefix, row.digest, row.name}
    assert row.digest == api_key_digest(api_key)


def test_revoked_key_is_refused_at_once(client, api_key):
    assert client.get(VERSION, HTTP_AUTHORIZATION=f"Token {api_key}").status_code == 200
    call_command("revoke_api_key", api_key.split("_")[1])
    assert client.get(VERSION, HTTP_AUTHORIZATION=f"Token {api_key}").status_code == 401


@pytest.mark.parametrize("change", [{"is_active": False}, {"tenant": None}])
def test_a_key_of_an_inactive_or_tenantless_user_is_refused(client, api_key, user, change):
    assert client.get(VERSION, HTTP_AUTHORIZATION=f"Token {api_key}").status_code == 200
    User.objects.filter(pk=user.pk).update(**change)
    assert client.get(VERSION, HTTP_AUTHORIZATION=f"Token {api_key}").status_code == 401


def test_the_usable_key_comes_with_its_whole_user_in_one_query(api_key, user, django_assert_num_queries):
    with django_assert_num_queries(1):
        key = api_key_usable(prefix=split_api_key(api_key)[0])
        assert (key.digest, key.user_id) == (api_key_digest(api_key), user.pk)
        assert {field.attname: getattr(key.user, field.attname) for field in User._meta.concrete_fields} == {
            field.attname: getattr(user, field.attname) for field in User._meta.concrete_fields}


def test_create_api_key_command_creates_user_and_tenant_and_prints_the_key_last(client, db, capsys):
    call_command("create_api_key", "carol", "--tenant", "acme")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    carol = User.objects.get(username="carol")
    assert carol.tenant.name == "acme"
    assert client.get(VERSION, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    call_command("create_api_key", "carol")  # a second key for the same user, same tenant
    assert carol.api_keys.count() == 2


def test_create_api_key_refuses_to_move_a_user_to_another_tenant(db):
    call_command("create_api_key", "dave", "--tenant", "one")
    with pytest.raises(Exception, match="already belongs"):
        call_command("create_api_key", "dave", "--tenant", "two")


def test_revoke_unknown_prefix_fails_clearly(db):
    with pytest.raises(CommandError, match="No API key"):
        call_command("revoke_api_key", "ffffffff")


def test_create_api_key_draws_another_key_when_the_prefix_is_taken(user):
    with mock.patch("memoryspaces.services.secrets.token_hex", side_effect=["abcd1234", "abcd1234", "beef0000"]):
        call_command("create_api_key", user.username)
        call_command("create_api_key", user.username)
    assert sorted(ApiKey.objects.filter(user=user).values_list("prefix", flat=True)) == ["abcd1234", "beef0000"]


def test_create_api_key_gives_up_clearly_when_every_prefix_is_taken(user):
    with mock.patch("memoryspaces.services.secrets.token_hex", return_value="abcd1234"):
        call_command("create_api_key", user.username)
        with pytest.raises(CommandError, match="Could not draw an unused API key prefix in 5 attempts"):
            call_command("create_api_key", user.username)
    assert ApiKey.objects.filter(user=user).count() == 1


def test_create_api_key_for_a_user_of_another_tenant_is_a_command_error(user):
    with pytest.raises(CommandError, match="already belongs to tenant"):
        call_command("create_api_key", user.username, "--tenant", "not-its-tenant")


def test_bootstrap_creates_a_first_admin_and_key_only_once(client, db, capsys):
    call_command("bootstrap")
    output = capsys.readouterr().out.strip()
    first = output.splitlines()[-1]
    assert client.get(VERSION, HTTP_AUTHORIZATION=f"Token {first}").status_code == 200
    password = output.split("admin password: ")[1].split(")")[0]
    assert client.login(username="admin", password=password)
    assert client.get("/admin/").status_code == 200
    call_command("bootstrap")
    assert "exist already" in capsys.readouterr().out
    assert ApiKey.objects.count() == 1


def test_bootstrap_never_changes_an_existing_admin_account(db, capsys):
    User.objects.create_superuser("admin", password="operators-own-password")  # no API key yet
    call_command("bootstrap")
    assert "Users exist already: nothing to do" in capsys.readouterr().out
    assert User.objects.get(username="admin").check_password("operators-own-password")
    assert not ApiKey.objects.exists()


def test_bootstrap_leaves_a_first_user_of_another_name_alone(db, capsys):
    User.objects.create_user("alice", password="alices-password")
    call_command("bootstrap")
    assert "nothing to do" in capsys.readouterr().out
    assert list(User.objects.values_list("username", flat=True)) == ["alice"] and not ApiKey.objects.exists()


def test_a_space_request_looks_up_the_key_and_the_space_once_each(api, space, django_assert_num_queries):
    """The floor of every request in a space: the key with its user, then the space. Neither lookup sorts
    (there is one row to find) or loads rows nobody reads (the key's tenant, the space's owner)."""
    ping = f"/api/v2/memory/{space.pk}/v1/ping/"
    assert api.get(ping).status_code == 200  # the key's first use also stamps its last_used_at
    with django_assert_num_queries(2) as queries:
        assert api.get(ping).status_code == 200
    key_sql, space_sql = (query["sql"] for query in queries.captured_queries)
    assert "ORDER BY" not in key_sql and "ORDER BY" not in space_sql
    assert key_sql.count("JOIN") == 1 and "memoryspaces_tenant" not in key_sql
    assert "JOIN" not in space_sql


def test_create_api_key_that_fails_creates_no_user_or_tenant(user):
    """The user, its tenant and its key are one transaction: a command that ends in an error leaves nothing."""
    with mock.patch("memoryspaces.services.secrets.token_hex", return_value="abcd1234"):
        call_command("create_api_key", user.username)
        with pytest.raises(CommandError, match="Could not draw an unused API key prefix"):
            call_command("create_api_key", "erin", "--tenant", "newco")
    assert not User.objects.filter(username="erin").exists()
    assert not Tenant.objects.filter(name="newco").exists()


@pytest.mark.parametrize(("args", "reason"), [
    (["", "--tenant", "newco"], "cannot be blank"),
    (["a b", "--tenant", "newco"], "may contain only letters"),
    (["x" * 151, "--tenant", "newco"], "at most 150 characters"),
    (["erin", "--tenant", "t" * 201], "at most 200 characters"),
    (["erin", "--tenant", "newco", "--name", "n" * 201], "at most 200 characters"),
])
def test_create_api_key_with_a_bad_argument_says_why_and_creates_nothing(db, args, reason):
    """What the admin could not save either (a blank or spaced username, a name longer than its column) is a
    one-line CommandError, not a database traceback or a user the admin then cannot edit."""
    with pytest.raises(CommandError, match=reason):
        call_command("create_api_key", *args)
    assert not User.objects.exists() and not Tenant.objects.exists() and not ApiKey.objects.exists()


def test_bootstrap_with_a_bad_username_says_why_and_creates_nothing(db):
    with pytest.raises(CommandError, match="may contain only letters"):
        call_command("bootstrap", "--username", "the admin")
    assert not User.objects.exists() and not Tenant.objects.exists()
