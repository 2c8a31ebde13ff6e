"""The one seam to the Kubernetes API: a small client protocol, its implementation, error mapping.

The protocol is `client.KubeClient`; `rest.RestClient` implements it over two transports,
`aio` (aiohttp on the event loop, the default) and `adapter` (the `kubernetes` client on
threads); `errors` maps HTTP failures into `function.errors`.
"""
