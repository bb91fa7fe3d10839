"""The web console: server-rendered pages for sign-in, MFA and self-service (no build step)."""
