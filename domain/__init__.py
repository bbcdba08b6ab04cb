"""The product's rules: services, domain objects, typed errors and the ports they speak through.

Nothing here knows HTTP, GraphQL or SQL.
"""
