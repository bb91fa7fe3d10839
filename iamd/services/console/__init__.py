"""The web console's services: sign-in, sessions, throttling, FIDO2 devices, self-service actions.

Everything here is below the web layer (iamd.web.console), which only parses forms, renders
pages and sets cookies.
"""
