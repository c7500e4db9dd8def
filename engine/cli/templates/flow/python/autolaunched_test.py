import unittest

from app import run
from stagecraft_flow import FlowError


class RunTest(unittest.TestCase):
    def test_greets_the_world_without_inputs(self):
        self.assertEqual(run({}), {"greeting": "Hello, world!"})

    def test_greets_by_name(self):
        self.assertEqual(run({"name": "Ada"}), {"greeting": "Hello, Ada!"})

    def test_refuses_a_name_that_is_not_text(self):
        with self.assertRaises(FlowError):
            run({"name": 42})


if __name__ == "__main__":
    unittest.main()
