"""The shared cache, failing open: with Redis away, pages work as if every key were missing.

What Gatehouse keeps in the cache is an optimisation (discovery documents, signing keys, the
exports' data version) or a counter (login starts per address). Without Redis each read misses
and each write is dropped, so pages fetch and compute afresh; the login rate limit then counts
nothing: a documented choice (README, "When a service is down"), since refusing every login
while Redis is away would be worse. One warning a minute says the cache is down.
"""

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
_WARN_EVERY = 60.0
_last_warning = 0.0


def _cache_down(operation: str, exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY:
        _last_warning = now
        log.warning("Cache unreachable (%s: %s); going on without it.", operation, exc)


def _fail_open(method, fallback):
    """`method`, answering `fallback(*args)` instead of raising when Redis is unreachable."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RedisError as exc:
            _cache_down(method.__name__, exc)
            return fallback(*args, **kwargs)

    return wrapper


def _default(key, default=None, *args, **kwargs):
    return default


class FailOpenRedisCache(RedisCache):
    add = _fail_open(RedisCache.add, lambda *a, **k: False)
    get = _fail_open(RedisCache.get, _default)
    set = _fail_open(RedisCache.set, lambda *a, **k: None)
    touch = _fail_open(RedisCache.touch, lambda *a, **k: False)
    delete = _fail_open(RedisCache.delete, lambda *a, **k: False)
    get_many = _fail_open(RedisCache.get_many, lambda *a, **k: {})
    has_key = _fail_open(RedisCache.has_key, lambda *a, **k: False)
    incr = _fail_open(RedisCache.incr, lambda *a, **k: 0)  # a counter that counts nothing
    set_many = _fail_open(RedisCache.set_many, lambda data, *a, **k: list(data))
    delete_many = _fail_open(RedisCache.delete_many, lambda *a, **k: None)
