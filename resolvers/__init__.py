"""Thin GraphQL resolvers: read the signed-in user, call one domain service, return what it
found as domain objects (or the small views in `resolvers.views`). They never import
`schema`: the schema's types call them and map the results."""
