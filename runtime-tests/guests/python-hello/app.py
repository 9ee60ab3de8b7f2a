"""hello, in Python: a component built by componentize-py."""

from wit_world import exports
from wit_world.exports.greeter import Greeting


class Greeter(exports.Greeter):
    def hello(self, name: str) -> Greeting:
        print(f"python says hello to {name}")
        return Greeting(message=f"Hello from Python, {name}!", name_length=len(name))

    def fail(self, message: str) -> str:
        raise ValueError(message)
