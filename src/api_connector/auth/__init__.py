"""Gateway keys: their format and scopes (``keys``) and the request-path ``Authenticator``."""

from api_connector.auth.authenticator import Authenticator, KeyLookup, Principal
from api_connector.auth.keys import KEY_PREFIX, Scope, generate_key, hash_key

__all__ = ["KEY_PREFIX", "Authenticator", "KeyLookup", "Principal", "Scope", "generate_key", "hash_key"]
