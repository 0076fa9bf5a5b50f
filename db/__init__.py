"""The database: Piccolo tables, migrations, the engine and bulk SQL helpers."""

import os

# Piccolo finds its configuration through this variable; ours lives in db/.
os.environ.setdefault("PICCOLO_CONF", "db.piccolo_conf")
