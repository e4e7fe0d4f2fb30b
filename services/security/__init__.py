"""Access control: who a caller is (tokens, service certificates) and what it may call.

``policy.py`` is the one table of which role may call which RPC; everything else here proves
identities (``tokens``, ``authenticator``), carries them (``channels``, ``caller``), makes the
local certificate authority (``local_ca``) and writes the audit trail (``audit``).
"""
