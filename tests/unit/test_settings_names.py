"""The names CloudWaste reads from CLOUDWASTE_* variables are found wherever it is installed (an
editable install included), so that a misspelt one is told apart and the closest is suggested."""

from __future__ import annotations

from cloudwaste.core.settings import known_variables, unknown_variables


def test_every_service_and_client_variable_is_known():
    known = set(known_variables())
    for name in (
        "DATABASE_URL",  # every service
        "HASH_KEY",  # scanner, enricher
        "ENRICHER_POLL_SECONDS",  # enricher
        "EXPORT_ROOT",  # exporter
        "TRAINING_WORKER",  # predictor
        "DATASET_ROOT",
        "SCANNER_ADDRESS",  # the CLI clients
        "READINESS_SECONDS",
        "MAX_CONNECTION_AGE_GRACE_SECONDS",
    ):
        assert f"CLOUDWASTE_{name}" in known, name
    assert all(n.startswith("CLOUDWASTE_") and n.upper() == n for n in known)


def test_a_misspelt_name_gets_the_closest_and_an_unknown_one_no_guess():
    env = {
        "CLOUDWASTE_GRPC_PROT": "1",
        "CLOUDWASTE_DATABSE_URL": "x",
        "CLOUDWASTE_XYZZY": "1",
        "CLOUDWASTE_GRPC_PORT": "1",  # known: nothing said
        "PATH": "/bin",  # not ours
    }
    assert unknown_variables(env) == [
        "CLOUDWASTE_DATABSE_URL is not a CloudWaste setting (did you mean CLOUDWASTE_DATABASE_URL?); it is ignored",
        "CLOUDWASTE_GRPC_PROT is not a CloudWaste setting (did you mean CLOUDWASTE_GRPC_PORT?); it is ignored",
        "CLOUDWASTE_XYZZY is not a CloudWaste setting; it is ignored",
    ]
