"""Concurrent writers to one session over HTTP: sequence ids 0..N-1, no gaps, no duplicates."""

from concurrent.futures import ThreadPoolExecutor

import requests

from sessions_app.models import Event
from tests.factories import make_session

WRITERS = 8
SINGLES_PER_WRITER = 15
BATCHES_PER_WRITER = 3
BATCH_SIZE = 10


def test_eight_concurrent_writers_get_contiguous_unique_sequence_ids(live_server, api_key, space):
    session = make_session(space)
    base = f"{live_server.url}/api/v2/memory/{space.id}/sessions/{session.id}/events/"

    def writer(number: int) -> list[int]:
        acknowledged = []
        with requests.Session() as http:
            http.headers["Authorization"] = f"Token {api_key}"
            for index in range(SINGLES_PER_WRITER):
                response = http.post(base, json={"body": {"content": f"w{number} single {index}"},
                                                 "emitter": {"type": "user", "id": str(number)}}, timeout=30)
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["sequenceId"])
                if index % (SINGLES_PER_WRITER // BATCHES_PER_WRITER) == 0:
                    batch = [{"body": {"content": f"w{number} batch {index}.{k}"},
                              "emitter": {"type": "agent", "id": str(number)}} for k in range(BATCH_SIZE)]
                    response = http.post(base + "batch/", json={"events": batch}, timeout=30)
                    assert response.status_code == 201, response.text
                    ids = [item["sequenceId"] for item in response.json()["items"]]
                    assert ids == list(range(ids[0], ids[0] + BATCH_SIZE))  # a batch is one contiguous range
                    acknowledged.extend(ids)
        return acknowledged

    with ThreadPoolExecutor(WRITERS) as pool:
        acknowledged = [seq for ids in pool.map(writer, range(WRITERS)) for seq in ids]

    expected = WRITERS * (SINGLES_PER_WRITER + BATCHES_PER_WRITER * BATCH_SIZE)
    assert len(acknowledged) == expected
    assert sorted(acknowledged) == list(range(expected))
    stored = list(Event.objects.filter(session=session).order_by("sequence_id").values_list("sequence_id", flat=True))
    assert stored == list(range(expected))
    session.refresh_from_db()
    assert (session.next_sequence_id, session.event_count) == (expected, expected)
