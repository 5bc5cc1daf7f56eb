"""Gateway keys (``keys``, ``authenticator``) and how a provider's credential is presented upstream
(``strategies``: bearer, header, query, basic; structured secrets such as key pairs sign or exchange).

Import from the submodules: this package imports none of them, so a provider declaration can use the
strategies without pulling in the key store.
"""
