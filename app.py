"""Start the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT.

Same as ``supportbot serve``. For a local try without Slack: ``supportbot demo``.
"""

from __future__ import annotations

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
