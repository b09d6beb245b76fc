"""Jinja text templates, installed as the ``bot.templates`` package (see bot/resources.py):
``messages/<locale>/<group>.j2`` (UI texts) and ``faq/<locale>/<slug>.md.j2``."""
