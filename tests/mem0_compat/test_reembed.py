import numpy as np
import pytest
from django.core.management import CommandError, call_command

from mem0_compat import services
from mem0_compat.embeddings import get_embedder
from mem0_compat.models import Memory


@pytest.mark.django_db(transaction=True)  # it rebuilds an index: not inside the test's own transaction
def test_reembed_rewrites_every_embedding_with_the_configured_embedder(space, capsys):
    services.memory_add(space=space, messages=[{"role": "user", "content": "Likes tea"}], scope={"user_id": "a"},
                        infer=False)
    Memory.objects.update(embedding=np.zeros(384).tolist())  # as if stored by another embedder
    call_command("reembed", "--dry-run")
    assert "would re-embed 1 memories" in capsys.readouterr().out
    assert not np.any(Memory.objects.get().embedding)
    call_command("reembed")
    assert "Re-embedded 1 memories" in capsys.readouterr().out
    expected = get_embedder().embed(["Likes tea"])[0]
    assert np.allclose(Memory.objects.get().embedding, expected, atol=1e-5)


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", ["0", "-1"])
def test_reembed_refuses_a_batch_size_below_one(recorded_embedder, batch_size, settings):
    from mem0_compat.vector_column import column_embedder

    settings.EMBEDDER = "minilm-int8"
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("reembed", "--batch-size", batch_size)
    assert column_embedder() == recorded_embedder  # not recorded as done
