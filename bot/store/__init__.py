"""All SQL of the product lives in this package.

Query functions take the connection first and everything else by keyword, and return
domain objects (``bot.domain``), never rows.
"""

from bot.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
