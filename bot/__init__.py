"""Partner support bot: everything that is not Slack glue."""
