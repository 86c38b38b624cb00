"""Entity families: each declares its ResourceSpecs and overrides generic hooks."""
