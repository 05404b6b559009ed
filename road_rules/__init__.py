"""Road rights: rule model, evaluation, and the route legality checker.

Pure Python: no Flask, no SQLAlchemy, no osmnx.
"""
