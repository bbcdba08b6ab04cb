"""What one GraphQL request carries: its credentials, the domain services and DataLoaders.

Below the resolvers and beside nothing GraphQL-specific, so `server` builds it without
importing `resolvers`.
"""
