"""Recommenders sharing ``fit(interactions)`` / ``recommend(customer_ids, k)``, one module each.

- ``interactions``: who bought (or viewed) what, the input of every model
- ``popularity``, ``buy_again``, ``item_knn``, ``als``, ``ease``, ``content_based``: single models
- ``hybrid``: the learned blend served by default, with its cold-start fallback
- ``cross_sell``: frequently-bought-together rules (support, confidence, lift)
- ``outputs``: builders of the warehouse tables customer_recommendations, product_similar_items
  and product_cross_sell

Import from the modules themselves; this package file stays empty so that ``ml.evaluation`` and
the models can import each other's building blocks without a cycle.
"""
