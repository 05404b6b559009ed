"""Road network, travel-time matrices and the vehicle routing model.

Depends on ``road_rules`` only; knows nothing of the database or the web.
"""
