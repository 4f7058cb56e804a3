"""A local Media Collection API: the embedded default endpoint of the demo and the tests."""

from ._sessions import ServerRules
from ._store import Store
from .api import create_api_app
from .site import create_site_app

__all__ = ["ServerRules", "Store", "create_api_app", "create_site_app"]
