"""Memory spaces, driven by the real `datarobot` client against a live server, and by raw HTTP for the
shapes the client hides (status codes, error bodies)."""

import re
import uuid

import pytest
from datarobot.errors import ClientError, MemorySpaceDeduplicationError
from datarobot.models.memory import MemorySpace

from tests.factories import MemorySpaceFactory, post_at_once
from tests.openapi_conformance import served_schema

SPACES = "/api/v2/memory/"


def test_client_creates_gets_lists_updates_and_deletes_a_space(dr, user):
    space = MemorySpace.create(description="Acme support", llm_model_name="gpt-4o",
                               llm_base_url="http://127.0.0.1:9/v1", custom_instructions="Only facts about deploys")
    assert space.user_id == str(user.pk)
    assert space.tenant_id == str(user.tenant_id)
    assert space.created_at is not None

    fetched = MemorySpace.get(space.id)
    assert (fetched.description, fetched.llm_model_name, fetched.llm_base_url, fetched.custom_instructions) == (
        "Acme support", "gpt-4o", "http://127.0.0.1:9/v1", "Only facts about deploys")
    assert [s.id for s in MemorySpace.list()] == [space.id]

    space.update(description=None, llm_model_name="gpt-4o-mini")
    fetched = MemorySpace.get(space.id)
    assert fetched.description is None and fetched.llm_model_name == "gpt-4o-mini"
    assert fetched.custom_instructions == "Only facts about deploys"  # untouched

    space.delete()
    with pytest.raises(ClientError) as missing:
        MemorySpace.get(space.id)
    assert missing.value.status_code == 404
    assert MemorySpace.list() == []
    with pytest.raises(ClientError) as again:
        space.delete()
    assert again.value.status_code == 404


def test_client_sees_deduplication_conflict_with_the_existing_space(dr):
    first = MemorySpace.create(deduplication_key="acme-support")
    with pytest.raises(MemorySpaceDeduplicationError) as conflict:
        MemorySpace.create(deduplication_key="acme-support")
    assert conflict.value.existing_memory_space_id == first.id
    assert conflict.value.deduplication_key == "acme-support"
    assert [s.id for s in MemorySpace.list(deduplication_key="acme-support")] == [first.id]

    first.delete()  # soft-deleting frees the key
    second = MemorySpace.create(deduplication_key="acme-support")
    assert second.id != first.id


def test_conflict_body_has_the_contract_fields(api):
    created = api.post(SPACES + "new/", {"deduplicationKey": "k"}, format="json").json()
    response = api.post(SPACES + "new/", {"deduplicationKey": "k"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": response.json()["detail"],
        "errorName": "MemorySpaceDeduplicationConflict",
        "deduplicationKey": "k",
        "existingMemorySpaceId": created["memorySpaceId"],
        "existingMemorySpaceUrl": f"/memory/{created['memorySpaceId']}/",
    }


def test_create_with_an_empty_body_is_allowed(api):
    response = api.generic("POST", SPACES + "new/", "", content_type="")
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= {"memorySpaceId", "userId", "tenantId", "createdAt"}
    assert body["description"] is None


def test_list_pages_with_offset_limit_and_total(api, user):
    for index in range(5):
        MemorySpaceFactory(owner=user, description=f"s{index}")
    page = api.get(SPACES, {"offset": 1, "limit": 2}).json()
    assert [item["description"] for item in page["items"]] == ["s1", "s2"]
    assert (page["offset"], page["limit"], page["total"]) == (1, 2, 5)


def test_list_shows_spaces_of_the_whole_tenant_but_not_other_tenants(api, user, other_user):
    from tests.factories import UserFactory

    colleague = UserFactory(tenant=user.tenant)
    mine, theirs = MemorySpaceFactory(owner=colleague), MemorySpaceFactory(owner=other_user)
    ids = {item["memorySpaceId"] for item in api.get(SPACES).json()["items"]}
    assert str(mine.id) in ids and str(theirs.id) not in ids


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"description": "x" * 1001}, ["body", "description"], "string_too_long"),
        ({"llmModelName": "m" * 201}, ["body", "llmModelName"], "string_too_long"),
        ({"customInstructions": "c" * 10001}, ["body", "customInstructions"], "string_too_long"),
        ({"llmBaseUrl": "not a url"}, ["body", "llmBaseUrl"], "invalid"),
        ({"description": 12}, ["body", "description"], "string_type"),
        ({"deduplicationKey": "k" * 73}, ["body", "deduplicationKey"], "string_too_long"),
        ({"deduplicationKey": ""}, ["body", "deduplicationKey"], "string_too_short"),
        ({"tenantId": str(uuid.uuid4())}, ["body", "tenantId"], "extra_forbidden"),
        (["not", "an", "object"], ["body"], "invalid"),
    ],
)
def test_create_rejects_bad_input_with_422(api, body, loc, error_type):
    response = api.post(SPACES + "new/", body, format="json")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc and error["type"] == error_type and error["msg"]


ACCEPTED_BASE_URLS = ["http://ollama:11434/v1", "http://llm/v1", "http://[::1]:8000/v1", "https://api.openai.com/v1",
                      "http://127.0.0.1:9/v1", "http://localhost:8000", "http://my_llm_1/v1", "http://fqdn.example./v1",
                      "http://[64:ff9b::808:808]/v1"]  # NAT64 to a public address
REFUSED_BASE_URLS = ["not a url", "ftp://files.example.com/v1", "http:///v1", "http://:80/v1", "//llm/v1",
                     "http://[::1/v1", "http://[zz::1]/v1", "http://llm:99999/v1", "http://llm:port/v1",
                     "http://-llm-/v1", "http://a..b/v1", "http://256.1.1.1/v1", "http://llm/ v1", "javascript:x"]


@pytest.mark.parametrize("url", ACCEPTED_BASE_URLS)
def test_llm_base_url_accepts_hosts_without_a_dot_and_ip_addresses(api, space, url):
    """Docker and Kubernetes service names have no dot: Django's URLValidator refused them."""
    created = api.post(SPACES + "new/", {"llmBaseUrl": url}, format="json")
    assert created.status_code == 201 and created.json()["llmBaseUrl"] == url
    assert api.patch(f"{SPACES}{space.id}/", {"llmBaseUrl": url}, format="json").json()["llmBaseUrl"] == url
    assert api.post(f"{SPACES}{space.id}/configure", {"llm": {"config": {"ollama_base_url": url}}},
                    format="json").status_code == 200


def test_the_document_says_an_llm_base_url_is_an_http_url():
    """It said a string; a client author could not know that anything but an http(s) URL is refused."""
    schemas = served_schema()["components"]["schemas"]
    for component in ("MemorySpaceCreateInRequest", "MemorySpaceUpdateInRequest"):
        documented = schemas[component]["properties"]["llmBaseUrl"]
        assert documented["format"] == "uri" and documented["nullable"] is True
        assert all(re.search(documented["pattern"], url) for url in ACCEPTED_BASE_URLS)
        for url in ("not a url", "ftp://files.example.com/v1", "http:///v1", "//llm/v1", "http://llm/ v1",
                    "javascript:x"):
            assert not re.search(documented["pattern"], url), url


@pytest.mark.parametrize("url", [*REFUSED_BASE_URLS, "http://llm/" + "v" * 2073])
def test_llm_base_url_refuses_junk_other_schemes_and_over_2083_characters(api, space, url):
    for response, field in zip(set_base_url(api, space, url), BASE_URL_FIELDS, strict=True):
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"][-1] == field
        assert error["type"] == ("string_too_long" if len(url) > 2083 else "invalid")
    space.refresh_from_db()
    assert space.llm_base_url is None


# Hosts a tenant could reach inside the operator's network through its space's LLM calls: the service's own
# loopback (its database, Redis), private networks, the cloud's metadata address, and spellings of them.
INTERNAL_BASE_URLS = ["http://127.0.0.1:6379/", "http://localhost:5432/v1", "http://api.localhost/v1",
                      "http://[::1]:8000/v1", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/v1",
                      "http://192.168.1.1/v1", "http://100.64.0.1/v1", "http://0.0.0.0:8000/v1",
                      "http://[::ffff:127.0.0.1]/v1", "http://[fe80::1]/v1", "http://0x7f.1/v1",
                      # IPv6 addresses that reach an IPv4 one: NAT64 (the well-known and the local-use prefix)
                      # and 6to4, to the metadata address and to 10.0.0.5; Python calls them global
                      "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "http://[64:ff9b:1::a00:5]/v1",
                      "http://[2002:a00:5::1]/v1",
                      # IPv4-compatible (Linux's sit0 tunnels it to the IPv4 address) and SIIT's IPv4-translated
                      # form, to loopback and the metadata address; IPv6's deprecated site-local network
                      "http://[::7f00:1]:6379/", "http://[::ffff:0:a9fe:a9fe]/latest/meta-data/", "http://[fec0::1]/v1"]


def set_base_url(api, space, url):
    """The three ways a tenant sets its space's LLM URL: create, PATCH and mem0's /configure."""
    return (api.post(SPACES + "new/", {"llmBaseUrl": url}, format="json"),
            api.patch(f"{SPACES}{space.id}/", {"llmBaseUrl": url}, format="json"),
            api.post(f"{SPACES}{space.id}/configure", {"llm": {"config": {"base_url": url}}}, format="json"))


# The field an error about the URL names, for each of set_base_url's calls: the one the caller sent.
BASE_URL_FIELDS = ("llmBaseUrl", "llmBaseUrl", "base_url")


@pytest.mark.parametrize("url", INTERNAL_BASE_URLS)
def test_by_default_llm_base_url_refuses_loopback_private_and_link_local_hosts(api, space, settings, url):
    settings.LLM_ALLOWED_HOSTS = []
    for response, field in zip(set_base_url(api, space, url), BASE_URL_FIELDS, strict=True):
        assert response.status_code == 422, response.json()
        [error] = response.json()["detail"]
        assert error["loc"][-1] == field and "LLM_ALLOWED_HOSTS" in error["msg"]
    space.refresh_from_db()
    assert space.llm_base_url is None


def test_llm_allowed_hosts_lets_the_operator_open_names_addresses_and_networks(api, space, settings):
    settings.LLM_ALLOWED_HOSTS = ["localhost", "10.0.0.0/8", "::1"]
    settings.LLM_BASE_URL = "http://192.168.1.1:11434/v1"  # the operator's own endpoint is always allowed
    for url in ["http://localhost:5432/v1", "http://10.0.0.5/v1", "http://[::1]:8000/v1",
                "http://192.168.1.1:11434/v1/", "https://api.openai.com/v1", "http://ollama:11434/v1"]:
        assert [response.status_code for response in set_base_url(api, space, url)] == [201, 200, 200], url
    for url in ["http://192.168.1.1:6379/", "http://127.0.0.1/v1", "http://169.254.169.254/"]:
        assert [response.status_code for response in set_base_url(api, space, url)] == [422] * 3, url
    # IPv6's loopback and unspecified addresses are not the IPv4-compatible 0.0.0.1 and 0.0.0.0
    settings.LLM_ALLOWED_HOSTS = ["0.0.0.0/8"]
    for url in ["http://[::1]:8000/v1", "http://[::]:8000/v1"]:
        assert [response.status_code for response in set_base_url(api, space, url)] == [422] * 3, url
    settings.LLM_ALLOWED_HOSTS = ["*"]  # any host, as a single-tenant install may want
    assert [response.status_code for response in set_base_url(api, space, "http://127.0.0.1:6379/")] == [201, 200, 200]


def test_the_operators_endpoint_is_its_host_at_its_port_not_any_port_of_its_host(api, space, settings):
    """LLM_BASE_URL https://10.0.0.5/v1 (port 443) opens that, not http://10.0.0.5 (port 80) or another port."""
    settings.LLM_ALLOWED_HOSTS = []
    settings.LLM_BASE_URL = "https://10.0.0.5/v1"
    for url in ["https://10.0.0.5/v1", "https://10.0.0.5:443/other", "http://10.0.0.5:443/v1"]:
        assert [response.status_code for response in set_base_url(api, space, url)] == [201, 200, 200], url
    for url in ["http://10.0.0.5/v1", "https://10.0.0.5:6379/", "http://10.0.0.5:80/v1"]:
        assert [response.status_code for response in set_base_url(api, space, url)] == [422] * 3, url


@pytest.mark.parametrize("model", ["ollama/llama3", "vllm/local-model", "lmstudio/local-model"])
def test_a_provider_whose_default_endpoint_is_local_needs_an_allowed_base_url(api, space, settings, model):
    """mem0's ollama, vllm and lmstudio providers call ports of localhost when no base URL is named."""
    settings.LLM_ALLOWED_HOSTS, settings.LLM_BASE_URL = [], None
    provider, _, name = model.partition("/")
    for response, loc in (
            (api.post(SPACES + "new/", {"llmModelName": model}, format="json"), ["body", "llmModelName"]),
            (api.patch(f"{SPACES}{space.id}/", {"llmModelName": model}, format="json"), ["body", "llmModelName"]),
            (api.post(f"{SPACES}{space.id}/configure", {"llm": {"provider": provider, "config": {"model": name}}},
                      format="json"), ["body", "llm", "config", "model"])):  # as the caller named it
        assert response.status_code == 422, response.json()
        [error] = response.json()["detail"]
        assert error["loc"] == loc and "default endpoint" in error["msg"]
        assert "LLM_ALLOWED_HOSTS" in error["msg"]
    space.refresh_from_db()
    assert space.llm_model_name is None
    with_url = {"llmModelName": model, "llmBaseUrl": "https://93.184.215.14/v1"}
    assert api.patch(f"{SPACES}{space.id}/", with_url, format="json").status_code == 200
    assert api.patch(f"{SPACES}{space.id}/", {"llmBaseUrl": None}, format="json").status_code == 422
    settings.LLM_BASE_URL = "http://10.0.0.5:11434/v1"  # the space's calls then go to the operator's endpoint
    assert api.patch(f"{SPACES}{space.id}/", {"llmBaseUrl": None}, format="json").status_code == 200
    settings.LLM_BASE_URL = None
    settings.LLM_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]  # the operator allows the default host
    assert api.post(SPACES + "new/", {"llmModelName": model}, format="json").status_code == 201


def test_a_base_url_with_a_provider_that_takes_none_is_refused_rather_than_ignored(api, space):
    """mem0's groq provider (like gemini, sarvam, together, ...) calls its own API whatever URL it is given:
    the space's llmBaseUrl was stored and silently never used."""
    url = "https://llm.example.com/v1"
    for response, loc in (
            (api.post(SPACES + "new/", {"llmModelName": "groq/llama3-70b", "llmBaseUrl": url}, format="json"),
             ["body", "llmModelName"]),
            (api.patch(f"{SPACES}{space.id}/", {"llmModelName": "groq/llama3-70b", "llmBaseUrl": url},
                       format="json"), ["body", "llmModelName"]),
            (api.post(f"{SPACES}{space.id}/configure", {"llm": {"provider": "groq", "config": {
                "model": "llama3-70b", "base_url": url}}}, format="json"), ["body", "llm", "config", "model"])):
        assert response.status_code == 422, response.json()
        [error] = response.json()["detail"]
        assert error["loc"] == loc and "groq takes no base URL" in error["msg"]
    space.refresh_from_db()
    assert (space.llm_model_name, space.llm_base_url) == (None, None)
    assert api.patch(f"{SPACES}{space.id}/", {"llmModelName": "groq/llama3-70b"}, format="json").status_code == 200
    assert api.patch(f"{SPACES}{space.id}/", {"llmBaseUrl": url}, format="json").status_code == 422
    # a provider that takes one, and a plain (OpenAI-compatible) name, keep it
    for model in ("vllm/local-model", "llama3-70b"):
        assert api.patch(f"{SPACES}{space.id}/", {"llmModelName": model, "llmBaseUrl": url},
                         format="json").status_code == 200


@pytest.mark.parametrize("provider", ["ollama", "anthropic"])
def test_a_provider_that_connects_with_its_own_library_may_name_no_host_that_only_resolving_tells(api, space,
                                                                                                  settings, provider):
    """mem0's ollama and anthropic providers call their base URL through a library of their own, which
    resolves the name when it connects, past any check made before (a name server may answer a public address
    to the check and 127.0.0.1 to the connection). Such a name was accepted; it must be allowed as such, or
    be an address (checked as it is)."""
    settings.LLM_ALLOWED_HOSTS, settings.LLM_BASE_URL = [], None
    url = "https://llm.example.com"
    for response, loc in (
            (api.post(SPACES + "new/", {"llmModelName": f"{provider}/m", "llmBaseUrl": url}, format="json"),
             ["body", "llmModelName"]),
            (api.patch(f"{SPACES}{space.id}/", {"llmModelName": f"{provider}/m", "llmBaseUrl": url},
                       format="json"), ["body", "llmModelName"]),
            (api.post(f"{SPACES}{space.id}/configure", {"llm": {"provider": provider, "config": {
                "model": "m", f"{provider}_base_url": url}}}, format="json"), ["body", "llm", "config", "model"])):
        assert response.status_code == 422, response.json()
        [error] = response.json()["detail"]
        assert error["loc"] == loc and "its own client library" in error["msg"]
        assert "LLM_ALLOWED_HOSTS" in error["msg"]
    space.refresh_from_db()
    assert (space.llm_model_name, space.llm_base_url) == (None, None)
    # an address, a name the operator allows, and a provider whose calls are checked when connecting may be set
    for model, base_url in ((f"{provider}/m", "https://93.184.215.14"), ("vllm/m", url), ("m", url)):
        assert api.patch(f"{SPACES}{space.id}/", {"llmModelName": model, "llmBaseUrl": base_url},
                         format="json").status_code == 200
    settings.LLM_ALLOWED_HOSTS = ["llm.example.com"]
    assert api.patch(f"{SPACES}{space.id}/", {"llmModelName": f"{provider}/m", "llmBaseUrl": url},
                     format="json").status_code == 200


def test_two_patches_at_once_cannot_together_set_a_base_url_its_provider_would_ignore(space):
    """Two PATCHes at once, one of the model, one of the base URL, each read the space before the other wrote:
    each pair is checked against what is stored when it is written, so the second is refused. Each used to be
    checked against the space as its request had read it, and both were stored: groq with an unused URL."""
    from config.api.errors import InvalidInput
    from memoryspaces.models import MemorySpace as SpaceRow
    from memoryspaces.services import space_update

    read_by_first, read_by_second = SpaceRow.objects.get(pk=space.pk), SpaceRow.objects.get(pk=space.pk)
    space_update(space=read_by_first, fields={"llm_model_name": "groq/llama3-70b"})
    with pytest.raises(InvalidInput, match="groq takes no base URL"):
        space_update(space=read_by_second, fields={"llm_base_url": "https://llm.example.com/v1"})
    space.refresh_from_db()
    assert (space.llm_model_name, space.llm_base_url) == ("groq/llama3-70b", None)


def test_the_operators_provider_may_be_named_at_its_default_endpoint(api, space, settings):
    """LLM_MODEL ollama/llama3 without LLM_BASE_URL: the operator's LLM is Ollama's default endpoint, which
    a space may name as it may name LLM_BASE_URL."""
    settings.LLM_ALLOWED_HOSTS, settings.LLM_BASE_URL, settings.LLM_MODEL = [], None, "ollama/llama3"
    assert api.patch(f"{SPACES}{space.id}/", {"llmModelName": "ollama/mistral"}, format="json").status_code == 200
    assert api.patch(f"{SPACES}{space.id}/", {"llmModelName": "vllm/mistral"}, format="json").status_code == 422


def test_client_creates_a_space_with_a_docker_service_url(dr):
    space = MemorySpace.create(llm_base_url="http://ollama:11434/v1")
    assert MemorySpace.get(space.id).llm_base_url == "http://ollama:11434/v1"


def test_malformed_json_is_422(api):
    response = api.generic("POST", SPACES + "new/", "{not json", content_type="application/json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_patch_rejects_unknown_keys_and_does_not_change_anything(api, space):
    response = api.patch(f"{SPACES}{space.id}/", {"description": "new", "owner": "me"}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "owner"]
    space.refresh_from_db()
    assert space.description != "new"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_bad_uuid_in_path_is_422(api, method):
    response = getattr(api, method)(f"{SPACES}not-a-uuid/", format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "space_id"]


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "ten"},
                                   {"offset": 10**30}])
def test_list_rejects_bad_paging(api, query):
    response = api.get(SPACES, query)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_client_lists_spaces_page_by_page_in_creation_order(dr):
    created = [MemorySpace.create(description=f"s{index}").id for index in range(5)]
    assert [s.id for s in MemorySpace.list(offset=1, limit=2)] == created[1:3]
    assert [s.id for s in MemorySpace.list(offset=4, limit=100)] == created[4:]
    assert MemorySpace.list(offset=5) == []
    with pytest.raises(ClientError) as too_many:
        MemorySpace.list(limit=101)  # a page is at most 100 items
    assert too_many.value.status_code == 422


def test_concurrent_creates_with_one_deduplication_key_make_one_space(live_server, api_key, user):
    """The partial unique index decides between racing creates: one 201, every other a 409 naming it."""
    winner, conflicts = post_at_once(f"{live_server.url}{SPACES}new/", {"deduplicationKey": "race"},
                                     api_key=api_key)
    assert {(c["errorName"], c["existingMemorySpaceId"]) for c in conflicts} == {
        ("MemorySpaceDeduplicationConflict", winner["memorySpaceId"])}
    assert [str(s.id) for s in user.memory_spaces.all()] == [winner["memorySpaceId"]]
