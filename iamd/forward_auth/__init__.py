"""Forward-auth for reverse proxies (nginx ``auth_request``, Traefik ForwardAuth, Envoy ``ext_authz``).

:mod:`iamd.forward_auth.rules` maps a request (method, path) to an action and resource;
:mod:`iamd.forward_auth.headers` is the header contract with the proxies.  Both are pure; the
endpoint that authenticates and authorizes lives in the web layer.
"""
