"""Use cases: one function per thing a user or a channel does, each one
transaction. They take plain values and the ``Runtime``, raise the domain's
errors (bot/domain/errors.py), and are the only way handlers reach data.
"""
