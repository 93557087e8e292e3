"""DNS lookups: the resolver clicksift asks (``--nameserver``, the ``nameserver`` setting)
and recipient domains' mail exchangers, cached in the store with their TTL."""
