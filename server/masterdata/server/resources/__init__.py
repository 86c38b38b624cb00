"""The generic resource path: spec, proto codec, service and standard methods."""
