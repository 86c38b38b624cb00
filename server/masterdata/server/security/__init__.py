"""Who may call what: authentication, scopes, rate limits."""
