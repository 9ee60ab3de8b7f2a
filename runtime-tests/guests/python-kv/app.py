"""Key-value and outbound HTTP from Python: a component built by componentize-py,
importing the standard wasi:keyvalue and wasi:http interfaces the host provides."""

from typing import Optional

from wit_world import exports
from wit_world.imports import atomics, outgoing_handler, store, streams, types
from componentize_py_types import Err, Ok


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

    def fetch(self, url: str) -> str:
        scheme, _, rest = url.partition("://")
        authority, slash, path = rest.partition("/")
        request = types.OutgoingRequest(types.Fields())
        request.set_method(types.Method_Get())
        request.set_scheme(types.Scheme_Https() if scheme == "https" else types.Scheme_Http())
        request.set_authority(authority)
        request.set_path_with_query(slash + path)
        try:
            future = outgoing_handler.handle(request, None)
        except Err as e:
            raise Err(f"refused: {type(e.value).__name__}")
        # Children before parents: wasi resources are dropped with `with`, in order.
        with future.subscribe() as ready:
            ready.block()
        answer = future.get()
        if answer is None or isinstance(answer, Err) or isinstance(answer.value, Err):
            why = answer.value.value if answer is not None and isinstance(answer, Ok) else answer
            raise Err(f"failed: {type(why).__name__}")
        with answer.value.value as response:
            body = b""
            with response.consume() as incoming:
                with incoming.stream() as stream:
                    while True:
                        try:
                            body += stream.blocking_read(65536)
                        except Err as e:
                            if isinstance(e.value, streams.StreamError_Closed):
                                break
                            raise Err(f"reading: {e.value}")
            return f"{response.status()} {body.decode()}"
