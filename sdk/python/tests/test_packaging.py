"""The SDK as pip installs it: distribution name, one version, py.typed,
and the public names that moved between modules."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.resources
import unittest
from pathlib import Path

import harness
import plugboard


class PackagingTest(unittest.TestCase):
    def test_installed_not_imported_from_the_source_tree(self):
        # make test-python installs the SDK (pip install ./sdk/python); the
        # tests must exercise that copy, as a user's code would.
        self.assertNotEqual(Path(plugboard.__file__).resolve().parent, harness.SDK_DIR / "plugboard")

    def test_one_version(self):
        self.assertEqual(importlib.metadata.version("plugboard-sdk"), plugboard.__version__)
        self.assertIn(plugboard.__version__, plugboard._http.USER_AGENT)

    def test_typed(self):
        self.assertTrue(importlib.resources.files("plugboard").joinpath("py.typed").is_file())

    def test_identity_is_frozen(self):
        ident = plugboard.Identity("u", "t", ["user"], [])
        with self.assertRaises(dataclasses.FrozenInstanceError):
            ident.user_id = "someone-else"  # type: ignore[misc]

    def test_response_helpers_keep_their_names(self):
        from plugboard import identity, responses
        for name in ("problem", "send_problem", "send_json"):
            self.assertIs(getattr(plugboard, name), getattr(responses, name))
            self.assertIs(getattr(identity, name), getattr(responses, name))  # the old home still works


if __name__ == "__main__":
    unittest.main()
