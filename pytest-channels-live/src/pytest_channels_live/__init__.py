"""pytest fixtures for Django Channels projects: real Redis, PostgreSQL, Daphne processes and headless browsers."""

from pytest_channels_live.browsers import PooledBrowser
from pytest_channels_live.daphne import DaphneCluster, DaphneServer, TlsEndpoint, self_signed_certificate
from pytest_channels_live.postgres import PostgresServer
from pytest_channels_live.processes import (
    HOST,
    ListeningServer,
    ServerProcess,
    WebEndpoint,
    free_port,
    require_executable,
    start_all,
    stop_all,
    wait_for,
)
from pytest_channels_live.redis_servers import RedisSentinel, RedisServer

__all__ = [
    "HOST",
    "DaphneCluster",
    "DaphneServer",
    "ListeningServer",
    "PooledBrowser",
    "PostgresServer",
    "RedisSentinel",
    "RedisServer",
    "ServerProcess",
    "TlsEndpoint",
    "WebEndpoint",
    "free_port",
    "require_executable",
    "self_signed_certificate",
    "start_all",
    "stop_all",
    "wait_for",
]
