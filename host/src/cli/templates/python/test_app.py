"""The plain-Python part of app.py, tested without a host or the bindings."""

import sys
import types
import unittest

# app.py imports the bindings componentize-py makes at build time; stand in for them here.
bindings = types.ModuleType("wit_world")
bindings.exports = types.SimpleNamespace({{camel}}=object)
sys.modules["wit_world"] = bindings

import app  # noqa: E402


class Greeting(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(app.greeting("Ada"), "Hello, Ada!")


if __name__ == "__main__":
    unittest.main()
