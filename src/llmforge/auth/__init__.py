"""Who is calling and what they may do: the identity core of the gateway.

    roles       permissions and the roles that group them (plain data)
    passwords   argon2id hashing of user passwords
    users       user accounts, login with lockout after repeated failures
    keys        API keys: created once, stored hashed, scoped, revocable, rotatable
    tokens      signed access tokens (JWT, Ed25519) and rotating refresh tokens
    identity    an Authorization header -> the :class:`~llmforge.auth.identity.Caller`

Nothing is imported here, so importing one module (the audit log, say) does not load the others.
"""
