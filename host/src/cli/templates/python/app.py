"""{{name}}: procedures in Python. `tsdev build` makes a component of this module with
componentize-py, from the WIT in wit/."""

from wit_world import exports


def greeting(name: str) -> str:
    """Plain Python, tested without a host: `python3 test_app.py`."""
    return f"Hello, {name}!"


class {{camel}}(exports.{{camel}}):
    def hello(self, name: str) -> str:
        return greeting(name)
