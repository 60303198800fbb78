from apps.common.db_router import ReplicaRouter, replica_reads
from apps.concerts.models import Concert


def test_without_a_replica_every_read_goes_to_the_primary(settings):
    assert "replica" not in settings.DATABASES
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_read(Concert) is None
    assert router.db_for_read(Concert) is None
    assert router.allow_migrate("default", "concerts") is True
    assert router.allow_migrate("replica", "concerts") is False


def test_catalogue_lists_work_without_a_replica(api_client, db):
    assert api_client.get("/api/concerts").status_code == 200
