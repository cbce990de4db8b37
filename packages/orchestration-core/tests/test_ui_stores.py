"""`headwater ui --store URL`: which MLMD connection a URL names, and refusals of bad ones."""

from __future__ import annotations

import pytest

from headwater.orchestration.errors import MetadataStoreError
from headwater.orchestration.ui import open_store, store_config


def test_postgresql_url_names_host_port_database_and_user():
    config = store_config("postgresql://reader:s%40cret@db.local:5433/ml_md")
    assert config.WhichOneof("config") == "postgresql"
    pg = config.postgresql
    assert (pg.host, pg.port, pg.dbname, pg.user, pg.password) == (
        "db.local",
        "5433",
        "ml_md",
        "reader",
        "s@cret",
    )


def test_mysql_url_takes_the_default_port():
    config = store_config("mysql://reader@127.0.0.1/mlmd")
    assert config.WhichOneof("config") == "mysql"
    assert (config.mysql.host, config.mysql.port, config.mysql.database) == (
        "127.0.0.1",
        3306,
        "mlmd",
    )
    assert config.mysql.user == "reader"


def test_a_path_or_sqlite_url_is_sqlite():
    assert store_config("/srv/m.sqlite").sqlite.filename_uri == "/srv/m.sqlite"
    assert store_config("sqlite:///srv/m.sqlite").sqlite.filename_uri == "/srv/m.sqlite"


@pytest.mark.parametrize(
    "url", ["http://db/mlmd", "postgresql://db.local/mlmd", "mysql://u@h/", "sqlite://"]
)
def test_bad_urls_say_what_was_expected(url):
    with pytest.raises(MetadataStoreError, match="expected"):
        store_config(url)


def test_a_missing_sqlite_file_is_not_created(tmp_path):
    missing = tmp_path / "nope" / "metadata.sqlite"
    with pytest.raises(FileNotFoundError, match="no ML Metadata file"):
        open_store(str(missing))
    assert not missing.parent.exists()


def test_a_file_that_is_not_a_store_is_refused_untouched(tmp_path):
    other = tmp_path / "notes.sqlite"
    other.write_bytes(b"not a database")
    with pytest.raises(MetadataStoreError):
        open_store(str(other))
    assert other.read_bytes() == b"not a database"
