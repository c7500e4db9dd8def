import unittest

from app import met
from stagecraft_flow import FlowError


class MetTest(unittest.TestCase):
    def test_not_met_without_inputs(self):
        self.assertFalse(met({}))

    def test_met_at_the_threshold(self):
        self.assertTrue(met({"score": 50}))
        self.assertTrue(met({"score": 7, "threshold": 5}))

    def test_refuses_a_score_that_is_not_a_number(self):
        with self.assertRaises(FlowError):
            met({"score": "high"})


if __name__ == "__main__":
    unittest.main()
