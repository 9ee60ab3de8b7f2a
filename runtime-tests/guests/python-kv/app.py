"""Key-value from Python: a component built by componentize-py, importing the standard
wasi:keyvalue interfaces the host provides."""

from typing import Optional

from wit_world import exports
from wit_world.imports import atomics, store
from componentize_py_types import Err


def _error(e: Err) -> str:
    return f"{type(e.value).__name__}: {getattr(e.value, 'value', '')}"


class Notes(exports.Notes):
    def bump(self, bucket: str, key: str) -> int:
        try:
            return atomics.increment(store.open(bucket), key, 1)
        except Err as e:
            raise Err(_error(e))

    def keep(self, bucket: str, key: str, text: str) -> None:
        try:
            store.open(bucket).set(key, text.encode())
        except Err as e:
            raise Err(_error(e))

    def read(self, bucket: str, key: str) -> Optional[str]:
        try:
            value = store.open(bucket).get(key)
        except Err as e:
            raise Err(_error(e))
        return None if value is None else value.decode()
