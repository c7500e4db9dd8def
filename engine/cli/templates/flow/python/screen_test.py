import unittest

from app import Approval
from stagecraft_flow import Invalid


class ApprovalTest(unittest.TestCase):
    def test_the_form_asks_for_a_decision(self):
        form = Approval().render({})
        self.assertEqual([f.name for f in form.fields], ["decision", "comment"])

    def test_approves(self):
        self.assertEqual(
            Approval().submit({}, {"decision": "approve"}),
            {"approved": True, "comment": ""},
        )

    def test_a_rejection_needs_a_comment(self):
        with self.assertRaises(Invalid) as caught:
            Approval().submit({}, {"decision": "reject"})
        self.assertEqual(caught.exception.errors[0].field, "comment")


if __name__ == "__main__":
    unittest.main()
