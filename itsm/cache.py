"""The Redis cache backend, sharing its connections across requests.

Django keeps one cache backend object per request context, and under ASGI every request
is a new context: with the stock backend each request made a new connection pool (a new
Redis connection, with its handshake) and every command built a new client (redis-py
fills a table of some 170 response callbacks per client). Here the pool and the client
are made once per server and process and shared (both are thread-safe; redis-py resets
a pool inherited across a fork).
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_clients: dict[str, Any] = {}
_lock = threading.Lock()


class SharedRedisCacheClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        server = self._servers[self._get_connection_pool_index(write)]
        client = _clients.get(server)
        if client is None:
            with _lock:
                client = _clients.get(server)
                if client is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    client = _clients[server] = self._client(connection_pool=pool)
        return client


class SharedRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedRedisCacheClient
