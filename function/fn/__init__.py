"""The Crossplane function protocol: the one place that speaks it.

`runner` is RunFunction — decode the request, call the pure `function.compose.compose`, encode
the answer; `wire` converts protobuf Structs to and from dicts for it; `server` is the gRPC
server ``aifleet serve`` runs; `render` is ``aifleet render``, the same runner offline on files.
Nothing outside this package (and the emulator's Crossplane stand-in, `function.testing`)
imports gRPC or the SDK's protocol messages.
"""
