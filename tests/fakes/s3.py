"""A boto3 client for moto's S3 server on loopback (the ``moto_endpoint`` fixture of conftest.py)."""

import pytest


def s3_client(endpoint: str, key: str = "k", secret: str = "s"):
    """moto accepts any credentials; tests pass the ones they also hand to the code under test."""
    boto3 = pytest.importorskip("boto3")
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                        region_name="us-east-1")
