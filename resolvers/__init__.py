"""Thin GraphQL resolvers: read the signed-in user, call one domain service, map the result."""
