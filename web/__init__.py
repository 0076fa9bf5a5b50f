"""The pages: Litestar handlers rendering Jinja templates for people who sign in with an
e-mail and password, beside the API for scripts. Like ``api/``, an adapter over
``fleetsvc/``: pages post to the same domain functions the API calls."""
