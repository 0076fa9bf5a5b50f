"""Piccolo's configuration: the engine and the app registry, nothing else."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from db.embedded import default_url

DB = PostgresEngine(config={"dsn": default_url()})

APP_REGISTRY = AppRegistry(apps=["db.piccolo_app"])
