"""Datasets shipped with the bot, installed as the ``bot.data`` package (see
bot/resources.py): ``demo.yml``, the demo world ``supportbot demo`` loads."""
